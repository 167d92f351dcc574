"""Synthetic populations and traffic. Every identity here is generated: names from Faker's
fr_FR lists, NIR and RPPS with valid keys, IBANs with valid check digits -- none is a real
person's."""
