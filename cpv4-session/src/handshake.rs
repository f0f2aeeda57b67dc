//! The three protocol steps as pure functions: bytes, the local policy and the time in; records
//! and bytes out. The session table decides which record a message belongs to.

use cpv4_crypto::attest::{AttestError, verify_chain, verify_signature};
use cpv4_crypto::ecdh::{EphemeralSecret, ID_EC_PUBLIC_KEY, PRIME256V1, parse_peer_key};
use cpv4_crypto::psk::DomainPsk;
use cpv4_crypto::schedule::{Kdf, SessionKeys, confirmation_mac, verify_confirmation_mac};
use cpv4_wire::consts::cpv4::{MAX_CLOCK_SKEW_SECS, NEGOTIATION_LIFETIME_SECS};
use cpv4_wire::{
    Accept, AcceptTbs, Confirm, ConfirmTbs, EphemeralKey, Offer, PskOffer, PskSelection, Selection,
    SessionUid,
};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable};

use crate::SessionError;
use crate::policy::{Policy, select, supported};
use crate::records::{AwaitingConfirm, PendingOffer, Role, SeqSet, Session};

/// Prefix of the responder's signed data.
pub const ACCEPT_SIGNATURE_LABEL: &[u8] = b"cpv4 accept";
/// Prefix of the responder's MAC input.
pub const ACCEPT_MAC_LABEL: &[u8] = b"cpv4 accept mac";
/// Prefix of the initiator's signed data.
pub const CONFIRM_SIGNATURE_LABEL: &[u8] = b"cpv4 confirm";
/// Prefix of the initiator's MAC input.
pub const CONFIRM_MAC_LABEL: &[u8] = b"cpv4 confirm mac";

/// The Offer's content: its DER with an empty binder list (`Offer::binder_input`). The
/// transcript, the offer hash and replay recognition use the content, not the bytes as
/// received: binders are proofs of the PSK, and those of entries the responder cannot verify
/// (other domains) could otherwise be changed to make "new" Offers of one captured Offer.
pub(crate) fn offer_content(offer_bytes: &[u8]) -> Result<Vec<u8>, SessionError> {
    Ok(Offer::decode(offer_bytes)?.binder_input()?)
}

pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    parts.iter().for_each(|part| hasher.update(part));
    hasher.finalize().into()
}

fn ephemeral_key(secret: &EphemeralSecret) -> EphemeralKey {
    EphemeralKey {
        key_type: ID_EC_PUBLIC_KEY,
        curve: PRIME256V1,
        point: secret.public_point().to_vec(),
    }
}

fn random<const N: usize, R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill_bytes(&mut out);
    out
}

/// Maps a chain verification failure to the code of the check that found it.
fn chain_error(error: AttestError) -> SessionError {
    match error {
        AttestError::Expired => {
            SessionError::AttestationExpired("a certificate is outside its validity")
        }
        _ => SessionError::NoRoots("the chain does not verify to a trusted root"),
    }
}

fn peer_key(key: &EphemeralKey) -> Result<cpv4_crypto::ecdh::PeerPublicKey, SessionError> {
    parse_peer_key(&key.key_type, &key.curve, &key.point).map_err(|_| SessionError::NoEphemeralKey)
}

fn kdf(id: u32) -> Result<Kdf, SessionError> {
    Kdf::from_id(id).ok_or(SessionError::NoKdf)
}

fn derive_keys(
    selection: &Selection,
    secret: &EphemeralSecret,
    peer: &cpv4_crypto::ecdh::PeerPublicKey,
    psk: &DomainPsk,
    nonce_i: &[u8; 32],
    nonce_r: &[u8; 32],
    transcript: &[u8; 32],
) -> Result<Box<SessionKeys>, SessionError> {
    let shared = secret.diffie_hellman(peer);
    SessionKeys::derive(
        kdf(selection.kdf)?,
        &shared,
        psk,
        nonce_i,
        nonce_r,
        transcript,
    )
    .map(Box::new)
    .map_err(|_| SessionError::NegotiationInvalid("key derivation failed"))
}

/// Step 1, initiator: the Offer and the pending negotiation it leaves. Each PSK entry gets
/// its binder, a MAC under that domain's PSK over the whole Offer (section 5).
pub(crate) fn make_offer<R: CryptoRng + ?Sized>(
    policy: &Policy,
    now: u64,
    rng: &mut R,
) -> Result<PendingOffer, SessionError> {
    let nonce = random::<32, _>(rng);
    let ephemeral = EphemeralSecret::generate(rng);
    let psk = match policy.psk_mode {
        crate::PskMode::Ids => {
            PskOffer::Ids(policy.domains.iter().map(DomainPsk::psk_id).collect())
        }
        crate::PskMode::LeetTags => {
            PskOffer::LeetTags(policy.domains.iter().map(|d| d.leet_tag(&nonce)).collect())
        }
    };
    let mut offer = Offer {
        nonce,
        time: now,
        algorithms: policy.algorithms.clone(),
        trusted_roots: policy.root_ids(),
        psk,
        ephemeral: ephemeral_key(&ephemeral),
        binders: Vec::new(),
    };
    let binder_hash = sha256(&[&offer.binder_input()?]);
    offer.binders = policy
        .domains
        .iter()
        .map(|domain| domain.binder(&binder_hash))
        .collect();
    Ok(PendingOffer {
        offer: offer.encode()?,
        ephemeral,
        created: now,
    })
}

/// The responder's selections from an Offer, in the order the codes are checked.
fn select_all(offer: &Offer, policy: &Policy) -> Result<Selection, SessionError> {
    let (theirs, ours) = (&offer.algorithms, &policy.algorithms);
    Ok(Selection {
        suite: select(&theirs.suites, &ours.suites, Some(supported::SUITES))
            .ok_or(SessionError::NoAlgs)?,
        kdf: select(&theirs.kdfs, &ours.kdfs, Some(supported::KDFS)).ok_or(SessionError::NoKdf)?,
        encoding: select(
            &theirs.encodings,
            &ours.encodings,
            Some(supported::ENCODINGS),
        )
        .ok_or(SessionError::NoEncoding)?,
        duration: select(&theirs.durations, &ours.durations, None)
            .ok_or(SessionError::NoSessionDuration)?,
        chain_mechanism: select(
            &theirs.chain_mechanisms,
            &ours.chain_mechanisms,
            Some(supported::CHAIN_MECHANISMS),
        )
        .ok_or(SessionError::NoChainAtt)?,
    })
}

/// The index of the first `(entry, domain)` pair, entries first, for which `matches` holds,
/// found in constant time: every pair is tried whatever matched, and the choice is made with
/// constant-time selection, so timing does not tell which entry or domain matched (section 5).
fn first_match(
    entries: usize,
    domains: &[DomainPsk],
    mut matches: impl FnMut(usize, &DomainPsk) -> Choice,
) -> Option<(usize, usize)> {
    let mut found = Choice::from(0);
    let (mut entry_at, mut domain_at) = (0u32, 0u32);
    for entry in 0..entries {
        for (index, domain) in domains.iter().enumerate() {
            let hit = matches(entry, domain) & !found;
            // Lists hold at most 8 entries and 3 domains: the indices fit a u32.
            entry_at.conditional_assign(&u32::try_from(entry).unwrap_or(u32::MAX), hit);
            domain_at.conditional_assign(&u32::try_from(index).unwrap_or(u32::MAX), hit);
            found |= hit;
        }
    }
    bool::from(found).then_some((entry_at as usize, domain_at as usize))
}

/// The responder's domain matching an Offer entry whose binder verifies, and what the Accept
/// echoes. An entry without a valid binder matches nothing: a captured id or tag alone, or an
/// Offer changed after it was made, gets `CKR_SESSION_NEGOTIATION_NO_PSK`.
fn match_psk<'p>(
    offer: &Offer,
    policy: &'p Policy,
) -> Result<(&'p DomainPsk, PskSelection), SessionError> {
    let binder_hash = sha256(&[&offer.binder_input()?]);
    let binder = |entry: usize| offer.binders.get(entry).copied().unwrap_or([0; 32]);
    let (entry, domain) = match &offer.psk {
        PskOffer::Ids(ids) => first_match(ids.len(), &policy.domains, |entry, domain| {
            let id = ids.get(entry).copied().unwrap_or_default();
            domain.psk_id_choice(&id) & domain.binder_matches(&binder_hash, &binder(entry))
        }),
        PskOffer::LeetTags(tags) => first_match(tags.len(), &policy.domains, |entry, domain| {
            let tag = tags.get(entry).copied().unwrap_or([0; 32]);
            domain.leet_tag_choice(&offer.nonce, &tag)
                & domain.binder_matches(&binder_hash, &binder(entry))
        }),
    }
    .ok_or(SessionError::NoPsk)?;
    let psk = policy.domains.get(domain).ok_or(SessionError::NoPsk)?;
    let selection = match &offer.psk {
        PskOffer::Ids(ids) => ids.get(entry).copied().map(PskSelection::Id),
        PskOffer::LeetTags(tags) => tags.get(entry).copied().map(PskSelection::LeetTag),
    }
    .ok_or(SessionError::NoPsk)?;
    Ok((psk, selection))
}

/// The initiator's domain named by the Accept's PSK echo, which must be one of its own Offer's
/// entries (constant time over its domains).
fn offered_psk<'p>(
    offer: &Offer,
    echo: &PskSelection,
    policy: &'p Policy,
) -> Result<&'p DomainPsk, SessionError> {
    let found = match (&offer.psk, echo) {
        (PskOffer::Ids(ids), PskSelection::Id(id)) if ids.contains(id) => {
            first_match(1, &policy.domains, |_, domain| domain.psk_id_choice(id))
        }
        (PskOffer::LeetTags(tags), PskSelection::LeetTag(tag)) if tags.contains(tag) => {
            first_match(1, &policy.domains, |_, domain| {
                domain.leet_tag_choice(&offer.nonce, tag)
            })
        }
        _ => None,
    };
    found
        .and_then(|(_, domain)| policy.domains.get(domain))
        .ok_or(SessionError::NoPsk)
}

/// Step 2, responder: checks the Offer and answers it with an Accept for session `uid`.
pub(crate) fn answer_offer<R: CryptoRng + ?Sized>(
    policy: &Policy,
    now: u64,
    rng: &mut R,
    offer_bytes: &[u8],
    uid: SessionUid,
) -> Result<(AwaitingConfirm, Vec<u8>), SessionError> {
    let offer = Offer::decode(offer_bytes)?;
    let content = offer.binder_input()?;
    if offer.time > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(SessionError::TimeNotInitialized(
            "the initiator's clock is ahead",
        ));
    }
    if now.saturating_sub(offer.time) > NEGOTIATION_LIFETIME_SECS {
        return Err(SessionError::AttestationExpired(
            "the Offer's time is stale",
        ));
    }
    let selection = select_all(&offer, policy)?;
    let own_root = *policy.identity.root.as_bytes();
    if !offer.trusted_roots.contains(&own_root) {
        return Err(SessionError::NoRoots(
            "the initiator trusts none of our roots",
        ));
    }
    let (psk, psk_selection) = match_psk(&offer, policy)?;
    let peer = peer_key(&offer.ephemeral)?;

    let nonce = random::<32, _>(rng);
    let ephemeral = EphemeralSecret::generate(rng);
    let tbs = AcceptTbs {
        offer_hash: sha256(&[&content]),
        session_uid: uid,
        nonce,
        time: now,
        selection,
        root: own_root,
        psk: psk_selection,
        trusted_roots: policy.root_ids(),
        ephemeral: ephemeral_key(&ephemeral),
        chain: policy.identity.chain.clone(),
    };
    let tbs_der = tbs.encode()?;
    let transcript = sha256(&[&content, &tbs_der]);
    let keys = derive_keys(
        &selection,
        &ephemeral,
        &peer,
        psk,
        &offer.nonce,
        &nonce,
        &transcript,
    )?;
    let signature = policy
        .identity
        .partition
        .sign(&[ACCEPT_SIGNATURE_LABEL, &transcript].concat());
    let mac = confirmation_mac(
        &keys.confirm_responder,
        &[ACCEPT_MAC_LABEL, &transcript[..], &signature[..]].concat(),
    );
    let listed_roots = tbs.trusted_roots.clone();
    let accept = Accept {
        tbs,
        signature,
        mac,
    }
    .encode()?;
    let record = AwaitingConfirm {
        offer_hash: sha256(&[&content]),
        offer: content,
        accept: accept.clone(),
        selection,
        listed_roots,
        keys,
        created: now,
    };
    Ok((record, accept))
}

/// Step 3, initiator: checks the Accept against the pending Offer it answers (checks 5 to 11
/// of the protocol; the table has done 1 to 4) and makes the Confirm and the session.
pub(crate) fn check_accept(
    policy: &Policy,
    now: u64,
    pending: &PendingOffer,
    accept_bytes: &[u8],
    accept: &Accept,
) -> Result<(Session, Vec<u8>), SessionError> {
    let offer = Offer::decode(&pending.offer)?;
    let content = offer.binder_input()?;
    let tbs = &accept.tbs;
    let ours = &offer.algorithms;
    let selection = tbs.selection;
    let offered = |list: &[u32], id: u32, known: &[u32]| list.contains(&id) && known.contains(&id);
    if !offered(&ours.suites, selection.suite, supported::SUITES) {
        return Err(SessionError::NoAlgs);
    }
    if !offered(&ours.kdfs, selection.kdf, supported::KDFS) {
        return Err(SessionError::NoKdf);
    }
    if !offered(&ours.encodings, selection.encoding, supported::ENCODINGS) {
        return Err(SessionError::NoEncoding);
    }
    if !ours.durations.contains(&selection.duration) {
        return Err(SessionError::NoSessionDuration);
    }
    if !offered(
        &ours.chain_mechanisms,
        selection.chain_mechanism,
        supported::CHAIN_MECHANISMS,
    ) {
        return Err(SessionError::NoChainAtt);
    }
    if now.saturating_sub(tbs.time) > NEGOTIATION_LIFETIME_SECS {
        return Err(SessionError::AttestationExpired(
            "the Accept's signed time is stale",
        ));
    }
    if tbs.time.saturating_add(MAX_CLOCK_SKEW_SECS) < offer.time {
        return Err(SessionError::TimeNotInitialized(
            "the responder's clock is behind",
        ));
    }
    if tbs.time > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(SessionError::TimeNotInitialized(
            "the responder's clock is ahead",
        ));
    }
    if !offer.trusted_roots.contains(&tbs.root) {
        return Err(SessionError::NoRoots(
            "the Accept names a root we do not trust",
        ));
    }
    let verified = verify_chain(&tbs.chain, &policy.trusted_roots, now).map_err(chain_error)?;
    if verified.root_id().as_bytes() != &tbs.root {
        return Err(SessionError::NoRoots(
            "the chain leads to another root than named",
        ));
    }
    if !tbs.trusted_roots.contains(policy.identity.root.as_bytes()) {
        return Err(SessionError::NoRoots(
            "the responder trusts none of our roots",
        ));
    }
    let psk = offered_psk(&offer, &tbs.psk, policy)?;
    let peer = peer_key(&tbs.ephemeral)?;

    let transcript = sha256(&[&content, &tbs.encode()?]);
    verify_signature(
        verified.leaf_key(),
        &[ACCEPT_SIGNATURE_LABEL, &transcript].concat(),
        &accept.signature,
    )
    .map_err(|_| SessionError::NegotiationInvalid("the Accept's signature does not verify"))?;
    let keys = derive_keys(
        &selection,
        &pending.ephemeral,
        &peer,
        psk,
        &offer.nonce,
        &tbs.nonce,
        &transcript,
    )?;
    let mac_input = [ACCEPT_MAC_LABEL, &transcript[..], &accept.signature[..]].concat();
    if !verify_confirmation_mac(&keys.confirm_responder, &mac_input, &accept.mac) {
        return Err(SessionError::NegotiationInvalid(
            "the Accept's MAC does not verify",
        ));
    }

    let confirm_tbs = ConfirmTbs {
        session_uid: tbs.session_uid,
        chain: policy.identity.chain.clone(),
    };
    let confirm_transcript = sha256(&[&content, accept_bytes, &confirm_tbs.encode()?]);
    let signature = policy
        .identity
        .partition
        .sign(&[CONFIRM_SIGNATURE_LABEL, &confirm_transcript].concat());
    let mac = confirmation_mac(
        &keys.confirm_initiator,
        &[CONFIRM_MAC_LABEL, &confirm_transcript[..], &signature[..]].concat(),
    );
    let confirm = Confirm {
        tbs: confirm_tbs,
        signature,
        mac,
    }
    .encode()?;
    let session = Session {
        role: Role::Initiator,
        keys,
        encoding: selection.encoding,
        established: now,
        duration: selection.duration.into(),
        next_send: 0,
        received: SeqSet::default(),
        offer_hash: sha256(&[&content]),
        confirm_hash: Some(sha256(&[&confirm])),
        peer: verified.peer().clone(),
    };
    Ok((session, confirm))
}

/// Step 4, responder: checks the Confirm for session `uid` (checks 2 to 5) and makes the
/// session.
pub(crate) fn check_confirm(
    policy: &Policy,
    now: u64,
    awaiting: &AwaitingConfirm,
    uid: SessionUid,
    confirm_bytes: &[u8],
) -> Result<Session, SessionError> {
    let confirm = Confirm::decode(confirm_bytes)?;
    if confirm.tbs.session_uid != uid {
        return Err(SessionError::NegotiationInvalid(
            "the Confirm is for another session",
        ));
    }
    let roots: Vec<_> = policy
        .trusted_roots
        .iter()
        .filter(|root| awaiting.listed_roots.contains(root.id().as_bytes()))
        .cloned()
        .collect();
    let verified = verify_chain(&confirm.tbs.chain, &roots, now).map_err(chain_error)?;
    let transcript = sha256(&[&awaiting.offer, &awaiting.accept, &confirm.tbs.encode()?]);
    verify_signature(
        verified.leaf_key(),
        &[CONFIRM_SIGNATURE_LABEL, &transcript].concat(),
        &confirm.signature,
    )
    .map_err(|_| SessionError::NegotiationInvalid("the Confirm's signature does not verify"))?;
    let mac_input = [CONFIRM_MAC_LABEL, &transcript[..], &confirm.signature[..]].concat();
    if !verify_confirmation_mac(&awaiting.keys.confirm_initiator, &mac_input, &confirm.mac) {
        return Err(SessionError::NegotiationInvalid(
            "the Confirm's MAC does not verify",
        ));
    }
    Ok(Session {
        role: Role::Responder,
        keys: awaiting.keys.clone(),
        encoding: awaiting.selection.encoding,
        established: now,
        duration: awaiting.selection.duration.into(),
        next_send: 0,
        received: SeqSet::default(),
        offer_hash: awaiting.offer_hash,
        confirm_hash: None,
        peer: verified.peer().clone(),
    })
}
