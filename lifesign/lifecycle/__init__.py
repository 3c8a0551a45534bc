"""The daily lifecycle: reminders, visit tasks, suspension, resumption, termination."""
