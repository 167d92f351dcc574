"""Thin routers: parse, call one use case, shape the answer."""
