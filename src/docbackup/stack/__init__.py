"""The stack: packaging the function, deploying lib/TapStack.yml, reading it back."""
