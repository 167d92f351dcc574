"""The portal's pages: signing in, the counter, the pages without beneficiary data."""
