"""Comparing saved histories: the history site (`site`), change points (`changes`),
main's runs on the benchmark-history branch (`branch`), and their commands (`commands`);
`series` reads a storage by fingerprint."""
