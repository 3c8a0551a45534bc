"""The pages of the web app, one router module per area (listed in lifesign.web.app)."""
