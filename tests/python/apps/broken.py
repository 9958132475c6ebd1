import this_module_does_not_exist  # noqa: F401  (the import error the test expects)

application = None
