"""`docbackup ui`: a local web app for people who are not operators, to see how the backups
stand, browse a night, and download a document.

The engine does the work; this layer renders and calls it. It listens on 127.0.0.1 only and
trusts no request that lacks the token of this start (see `guard`).
"""
