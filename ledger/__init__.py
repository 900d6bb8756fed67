"""The ledger: accounts and postings."""
