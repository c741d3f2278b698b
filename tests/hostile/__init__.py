"""The hostile-input suite: what an attacker or bad luck does, and what still holds."""
