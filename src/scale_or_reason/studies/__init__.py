"""Study files shipped with the package (``sor study run demo`` finds them by name)."""
