"""SEV-SNP attestation: parse, verify to AMD's root, fetch from guests, expected measurement."""
