//! TLS 1.3 record protection that keeps an idle connection's keys small. ring's expanded AEAD
//! key is a 560 B allocation per direction (its key enum is as large as AES-GCM's round keys
//! and GHASH table, whatever the suite), which an idle connection would hold for nothing. Here
//! a direction keeps its raw key (at most 32 bytes) and the IV; the expanded key is made when
//! a record is sealed or opened, and the last one made is kept per thread and direction, so a
//! run of records on one connection expands once. The crypto is ring's, as rustls's ring
//! provider uses it; the hash and HKDF of each suite stay the provider's own.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::thread::LocalKey;

use ring::aead::{self, Aad, Algorithm, LessSafeKey, UnboundKey};
use rustls::crypto::cipher::{
    make_tls13_aad, AeadKey, InboundOpaqueMessage, InboundPlainMessage, Iv, MessageDecrypter,
    MessageEncrypter, Nonce, OutboundOpaqueMessage, OutboundPlainMessage, PrefixedPayload,
    Tls13AeadAlgorithm, UnsupportedOperationError,
};
use rustls::{CipherSuite, CipherSuiteCommon, Tls13CipherSuite};
use rustls::{ConnectionTrafficSecrets, ContentType, Error, ProtocolVersion, SupportedCipherSuite};
use zeroize::Zeroize;

const TAG_LEN: usize = 16;
const MAX_KEY_LEN: usize = 32;

/// The three TLS 1.3 suites, each for its ring algorithm.
static AES_128_GCM: LazyAead = LazyAead(&aead::AES_128_GCM);
static AES_256_GCM: LazyAead = LazyAead(&aead::AES_256_GCM);
static CHACHA20_POLY1305: LazyAead = LazyAead(&aead::CHACHA20_POLY1305);

/// `suite` with its records sealed here, if it is a TLS 1.3 suite of ring's; TLS 1.2 suites
/// (and anything unknown) come back as they are.
pub fn small_keys(suite: SupportedCipherSuite) -> SupportedCipherSuite {
    static SUITES: OnceLock<Vec<Tls13CipherSuite>> = OnceLock::new();
    let ours = SUITES.get_or_init(|| {
        rustls::crypto::ring::default_provider()
            .cipher_suites
            .into_iter()
            .filter_map(|s| s.tls13())
            .filter_map(|ring| {
                let aead_alg: &'static LazyAead = match ring.common.suite {
                    CipherSuite::TLS13_AES_128_GCM_SHA256 => &AES_128_GCM,
                    CipherSuite::TLS13_AES_256_GCM_SHA384 => &AES_256_GCM,
                    CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => &CHACHA20_POLY1305,
                    _ => return None,
                };
                Some(Tls13CipherSuite {
                    common: CipherSuiteCommon {
                        suite: ring.common.suite,
                        hash_provider: ring.common.hash_provider,
                        confidentiality_limit: ring.common.confidentiality_limit,
                    },
                    hkdf_provider: ring.hkdf_provider,
                    aead_alg,
                    // The server speaks no QUIC.
                    quic: None,
                })
            })
            .collect()
    });
    ours.iter()
        .find(|s| s.common.suite == suite.suite())
        .map_or(suite, SupportedCipherSuite::Tls13)
}

/// A ring AEAD whose keys are expanded on use.
struct LazyAead(&'static Algorithm);

impl LazyAead {
    fn key(&self, key: &AeadKey, iv: Iv) -> RawKey {
        let mut raw = [0u8; MAX_KEY_LEN];
        let bytes = key.as_ref();
        let len = bytes.len().min(MAX_KEY_LEN);
        raw[..len].copy_from_slice(&bytes[..len]);
        RawKey {
            alg: self.0,
            raw,
            iv,
        }
    }
}

impl Tls13AeadAlgorithm for LazyAead {
    fn encrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageEncrypter> {
        Box::new(Sealer(self.key(&key, iv)))
    }

    fn decrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageDecrypter> {
        Box::new(Opener(self.key(&key, iv)))
    }

    fn key_len(&self) -> usize {
        self.0.key_len()
    }

    fn extract_keys(
        &self,
        key: AeadKey,
        iv: Iv,
    ) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        Ok(if self.0 == &aead::AES_128_GCM {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv }
        } else if self.0 == &aead::AES_256_GCM {
            ConnectionTrafficSecrets::Aes256Gcm { key, iv }
        } else {
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv }
        })
    }
}

/// One direction's key as the connection keeps it while idle.
struct RawKey {
    alg: &'static Algorithm,
    /// The key, zero-padded past `alg.key_len()`.
    raw: [u8; MAX_KEY_LEN],
    iv: Iv,
}

/// The expanded key made last on this thread for one direction, and what it was made from.
struct Expanded {
    alg: &'static Algorithm,
    raw: [u8; MAX_KEY_LEN],
    key: LessSafeKey,
}

// The raw key bytes are wiped when a connection or a thread's kept key lets them go, so a
// closed connection's record keys do not linger in freed memory. (ring does not wipe its
// expanded keys; rustls wipes its secrets.)
impl Drop for RawKey {
    fn drop(&mut self) {
        self.raw.zeroize();
    }
}

impl Drop for Expanded {
    fn drop(&mut self) {
        self.raw.zeroize();
    }
}

thread_local! {
    static SEALING: RefCell<Option<Expanded>> = const { RefCell::new(None) };
    static OPENING: RefCell<Option<Expanded>> = const { RefCell::new(None) };
}

impl RawKey {
    /// Runs `f` with the expanded key: the one kept if it was made from this key (compared
    /// whole, so a record is never sealed with another connection's key), else a new one.
    fn with<R>(
        &self,
        slot: &'static LocalKey<RefCell<Option<Expanded>>>,
        f: impl FnOnce(&LessSafeKey) -> R,
    ) -> Option<R> {
        slot.with(|cell| {
            let mut kept = cell.borrow_mut();
            let fits = kept
                .as_ref()
                .is_some_and(|e| e.alg == self.alg && e.raw == self.raw);
            if !fits {
                let unbound = UnboundKey::new(self.alg, &self.raw[..self.alg.key_len()]).ok()?;
                *kept = Some(Expanded {
                    alg: self.alg,
                    raw: self.raw,
                    key: LessSafeKey::new(unbound),
                });
            }
            kept.as_ref().map(|e| f(&e.key))
        })
    }

    fn nonce(&self, seq: u64) -> aead::Nonce {
        aead::Nonce::assume_unique_for_key(Nonce::new(&self.iv, seq).0)
    }
}

struct Sealer(RawKey);

impl MessageEncrypter for Sealer {
    fn encrypt(
        &mut self,
        msg: OutboundPlainMessage<'_>,
        seq: u64,
    ) -> Result<OutboundOpaqueMessage, Error> {
        let total_len = self.encrypted_payload_len(msg.payload.len());
        let mut payload = PrefixedPayload::with_capacity(total_len);
        payload.extend_from_chunks(&msg.payload);
        // TLSInnerPlaintext: the content, then its real type (RFC 8446 section 5.2).
        payload.extend_from_slice(&msg.typ.to_array());
        let nonce = self.0.nonce(seq);
        let aad = Aad::from(make_tls13_aad(total_len));
        self.0
            .with(&SEALING, |key| {
                key.seal_in_place_append_tag(nonce, aad, &mut payload)
            })
            .and_then(Result::ok)
            .ok_or(Error::EncryptError)?;
        // Every TLS 1.3 record says TLS 1.2 (RFC 8446 section 5.1).
        Ok(OutboundOpaqueMessage::new(
            ContentType::ApplicationData,
            ProtocolVersion::TLSv1_2,
            payload,
        ))
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        payload_len + 1 + TAG_LEN
    }
}

struct Opener(RawKey);

impl MessageDecrypter for Opener {
    fn decrypt<'a>(
        &mut self,
        mut msg: InboundOpaqueMessage<'a>,
        seq: u64,
    ) -> Result<InboundPlainMessage<'a>, Error> {
        let payload = &mut msg.payload;
        if payload.len() < TAG_LEN {
            return Err(Error::DecryptError);
        }
        let nonce = self.0.nonce(seq);
        let aad = Aad::from(make_tls13_aad(payload.len()));
        let plain_len = self
            .0
            .with(&OPENING, |key| {
                key.open_in_place(nonce, aad, payload)
                    .map(|plain| plain.len())
            })
            .and_then(Result::ok)
            .ok_or(Error::DecryptError)?;
        payload.truncate(plain_len);
        msg.into_tls13_unpadded_message()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::cipher::OutboundChunks;
    use rustls::crypto::ring::cipher_suite as ring_suite;

    fn keys(seed: u8) -> (AeadKey, Iv) {
        let mut iv = [0u8; 12];
        iv[0] = seed;
        (AeadKey::from([seed; MAX_KEY_LEN]), Iv::new(iv))
    }

    fn seal(
        alg: &dyn Tls13AeadAlgorithm,
        seed: u8,
        seq: u64,
        typ: ContentType,
        text: &[u8],
    ) -> Vec<u8> {
        let (key, iv) = keys(seed);
        let msg = OutboundPlainMessage {
            typ,
            version: ProtocolVersion::TLSv1_2,
            payload: OutboundChunks::Single(text),
        };
        let mut sealer = alg.encrypter(key, iv);
        sealer.encrypt(msg, seq).expect("seal").encode()
    }

    fn open(
        alg: &dyn Tls13AeadAlgorithm,
        seed: u8,
        seq: u64,
        record: &mut [u8],
    ) -> Result<(ContentType, Vec<u8>), Error> {
        let (key, iv) = keys(seed);
        let msg = InboundOpaqueMessage::new(
            ContentType::ApplicationData,
            ProtocolVersion::TLSv1_2,
            &mut record[5..],
        );
        let mut opener = alg.decrypter(key, iv);
        let plain = opener.decrypt(msg, seq)?;
        Ok((plain.typ, plain.payload.to_vec()))
    }

    /// Ours and ring's provider's own, for the suites with 32-byte keys (an `AeadKey` of 16
    /// cannot be made outside rustls; AES-128 runs over real handshakes in tests/tls.rs).
    fn pairs() -> Vec<(
        &'static dyn Tls13AeadAlgorithm,
        &'static dyn Tls13AeadAlgorithm,
    )> {
        [
            (ring_suite::TLS13_AES_256_GCM_SHA384, &AES_256_GCM),
            (
                ring_suite::TLS13_CHACHA20_POLY1305_SHA256,
                &CHACHA20_POLY1305,
            ),
        ]
        .into_iter()
        .map(|(suite, ours)| {
            let ring = suite.tls13().expect("tls13").aead_alg;
            (ours as &dyn Tls13AeadAlgorithm, ring)
        })
        .collect()
    }

    #[test]
    fn records_are_byte_for_byte_ring_s_own_and_open_both_ways() {
        for (ours, ring) in pairs() {
            for (seq, text) in [(0, &b""[..]), (1, b"PRIVMSG #a :hi\r\n"), (9, &[7; 16384])] {
                let mine = seal(ours, 3, seq, ContentType::ApplicationData, text);
                let theirs = seal(ring, 3, seq, ContentType::ApplicationData, text);
                assert_eq!(mine, theirs, "record {seq}");
                assert_eq!(&mine[..3], &[0x17, 0x03, 0x03]);
                let (typ, back) = open(ring, 3, seq, &mut mine.clone()).expect("ring opens");
                assert_eq!((typ, &back[..]), (ContentType::ApplicationData, text));
                let (_, back) = open(ours, 3, seq, &mut theirs.clone()).expect("we open");
                assert_eq!(back, text);
            }
            let mut alert = seal(ours, 3, 4, ContentType::Alert, &[1, 0]);
            assert_eq!(
                open(ours, 3, 4, &mut alert).expect("open").0,
                ContentType::Alert
            );
        }
    }

    #[test]
    fn keys_taking_turns_on_one_thread_each_seal_with_their_own() {
        // Two connections' records interleaved: the kept expanded key must follow each one.
        for (ours, ring) in pairs() {
            for round in 0..3u64 {
                for seed in [1u8, 2, 1, 2] {
                    let mine = seal(ours, seed, round, ContentType::ApplicationData, b"x");
                    let want = seal(ring, seed, round, ContentType::ApplicationData, b"x");
                    assert_eq!(mine, want, "seed {seed} round {round}");
                    assert!(open(ours, seed, round, &mut mine.clone()).is_ok());
                }
            }
        }
    }

    #[test]
    fn an_idle_direction_keeps_less_than_an_expanded_key() {
        // The point of this module: what a connection holds between records.
        assert!(
            std::mem::size_of::<Sealer>() <= 56,
            "{}",
            std::mem::size_of::<Sealer>()
        );
        assert!(std::mem::size_of::<Opener>() * 8 < std::mem::size_of::<LessSafeKey>());
    }

    #[test]
    fn a_wrong_sequence_key_or_byte_is_refused_without_a_panic() {
        let alg: &dyn Tls13AeadAlgorithm = &AES_256_GCM;
        let record = seal(alg, 7, 3, ContentType::ApplicationData, b"hello");
        assert!(open(alg, 7, 4, &mut record.clone()).is_err());
        assert!(open(alg, 8, 3, &mut record.clone()).is_err());
        for i in 5..record.len() {
            let mut bad = record.clone();
            bad[i] ^= 1;
            assert_eq!(open(alg, 7, 3, &mut bad).unwrap_err(), Error::DecryptError);
        }
        let mut short = record[..5 + TAG_LEN - 1].to_vec();
        assert_eq!(
            open(alg, 7, 3, &mut short).unwrap_err(),
            Error::DecryptError
        );
    }

    #[test]
    fn tls13_suites_are_swapped_and_tls12_ones_are_left_alone() {
        for suite in rustls::crypto::ring::default_provider().cipher_suites {
            let swapped = small_keys(suite);
            assert_eq!(swapped.suite(), suite.suite());
            match (suite, swapped) {
                (SupportedCipherSuite::Tls13(ring), SupportedCipherSuite::Tls13(ours)) => {
                    assert!(!std::ptr::eq(ring, ours));
                    assert_eq!(ring.aead_alg.key_len(), ours.aead_alg.key_len());
                    assert!(ours.quic.is_none());
                }
                (SupportedCipherSuite::Tls12(ring), SupportedCipherSuite::Tls12(same)) => {
                    assert!(std::ptr::eq(ring, same));
                }
                _ => panic!("{suite:?} changed version"),
            }
        }
    }
}
