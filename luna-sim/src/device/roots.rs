//! Root certificates parsed once: parsing a root verifies its self-signature (an ECDSA
//! verification), and every cloning call needs the trusted roots of its device.

use std::collections::HashMap;

use cpv4_crypto::attest::TrustedRoot;

use crate::error::{SimError, SimResult};

/// How many parsed roots are kept; past it the cache starts again (a home has a handful).
const MAX_ROOTS: usize = 64;

/// Parsed roots keyed by their certificate's bytes, so a cached entry is exactly what parsing
/// those bytes again would give: nothing in the store can make it stale.
#[derive(Default)]
pub(crate) struct RootCache {
    parsed: HashMap<Vec<u8>, TrustedRoot>,
}

impl RootCache {
    /// The root a stored certificate is, parsed and verified once.
    ///
    /// # Errors
    ///
    /// [`SimError::Corrupt`] unless it is a self-signed CA certificate (nothing is cached).
    pub(crate) fn parse(&mut self, cert_der: &[u8]) -> SimResult<TrustedRoot> {
        if let Some(root) = self.parsed.get(cert_der) {
            return Ok(root.clone());
        }
        let root = TrustedRoot::from_der(cert_der)
            .map_err(|_| SimError::Corrupt("root certificate".into()))?;
        if self.parsed.len() >= MAX_ROOTS {
            self.parsed.clear();
        }
        self.parsed.insert(cert_der.to_vec(), root.clone());
        Ok(root)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.parsed.len()
    }
}

#[cfg(test)]
mod tests {
    use cpv4_crypto::attest::ManufacturerRoot;

    use super::*;
    use crate::device::records::CERT_VALIDITY;
    use crate::store::keys::os_rng;

    fn root_der(name: &str) -> Vec<u8> {
        ManufacturerRoot::generate(&mut os_rng(), name, CERT_VALIDITY)
            .expect("root")
            .certificate_der()
            .to_vec()
    }

    #[test]
    fn a_cached_root_is_the_one_its_bytes_parse_to_and_bad_bytes_are_never_cached() {
        let mut cache = RootCache::default();
        let der = root_der("cache root");
        let first = cache.parse(&der).expect("parses");
        let again = cache.parse(&der).expect("cached");
        assert_eq!(cache.len(), 1);
        assert_eq!(first.id(), again.id());
        assert_eq!(again.certificate_der(), der.as_slice());
        assert_eq!(
            first.id(),
            TrustedRoot::from_der(&der).expect("parses").id()
        );

        // A flipped bit of the signature: the bytes are not a root, now or from the cache.
        let mut tampered = der.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(cache.parse(&tampered), Err(SimError::Corrupt(_))));
        assert!(matches!(cache.parse(&tampered), Err(SimError::Corrupt(_))));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_full_cache_starts_again_rather_than_growing() {
        let mut cache = RootCache::default();
        let der = root_der("bounded root");
        let root = cache.parse(&der).expect("parses");
        for n in 1..MAX_ROOTS {
            cache.parsed.insert(n.to_be_bytes().to_vec(), root.clone());
        }
        assert_eq!(cache.len(), MAX_ROOTS);
        let other = root_der("another root");
        cache.parse(&other).expect("parses");
        assert_eq!(cache.len(), 1);
    }
}
