"""Exit statuses shared by the command-line tools."""

#: exit status after Ctrl-C (128 + SIGINT), as a shell reports it
EXIT_INTERRUPTED = 130
