"""Reports read findings only: HTML, JSON (see `findings.Report`) and the terminal summary."""
