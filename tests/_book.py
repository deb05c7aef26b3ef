"""Helpers shared by the market-rule tests."""

from marketsim.orderbook import R_HALTED


def halted(book):
    """Trading halted at the book's last action (under the default reopening auction a
    limit order entered in a halt is accepted and rests for the auction)."""
    return book.rules[R_HALTED] == 1
