"""运营后台账号: operator accounts and their roles (``roles``), passwords (``passwords``),
accounts as the command line manages them (``accounts``), browser logins with their lockout
(``sessions``), API tokens and their revocation (``tokens``), and the process's cache of what a
token request needs to know (``cache``)."""
