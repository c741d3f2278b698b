"""`python -m docbackup`: the same CLI as the `docbackup` command."""

from docbackup.cli.main import main

main()
