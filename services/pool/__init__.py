"""工会排队 (SPEC §11): the union pool — its settings, what settled lines contribute (and the
acceleration a direct referral's line pays its referrer), and the daily close. The rules are the
engine's (``rebate.union_pool``); this package moves the rows and postings around them."""
