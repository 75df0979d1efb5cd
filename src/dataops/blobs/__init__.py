"""Binary storage: the port and its backends."""
