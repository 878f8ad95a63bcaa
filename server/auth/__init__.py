"""Accounts, roles, training and access grants, units and dash cameras, tokens."""
