"""Tools that (re)generate packaged catalog data; not used at run time."""
