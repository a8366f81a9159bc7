# Install rules: filled in by issue 11
