"""Tanpu's rules, pure: no I/O, no clock, no SQL, no randomness.

Everything here takes what it needs as arguments (times, factors, balances) and
returns what should happen (postings, breakdowns, errors) without doing it.
"""
