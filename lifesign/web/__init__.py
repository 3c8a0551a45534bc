"""The web app and API of lifesign (`lifesign serve`)."""
