"""Lab versus field: capture conditions, a capture model fitted to field photos, and predicted
field accuracy."""
