//! File transfers: offers, answers, routing data frames with their size checks, and the
//! deadlines: unanswered offers expire, accepted transfers that go idle are aborted. A user
//! has at most `max_transfers_per_user` open at once, kept per user so a disconnect finds its
//! transfers without looking at anyone else's.
//!
//! Native users send and receive in their own connection. Everyone else (IRC users, the web
//! page) uses links: a recipient gets a download link, and opening it is the consent; a sender
//! gets an upload link to put the bytes to once the offer is accepted. The HTTP connections
//! that carry the bytes are the transfer's "pipes"; the bytes never touch the disk and move
//! with the same backpressure as native data frames.

use std::cmp::Reverse;

use super::*;

/// How long an upload page for one recipient stays valid.
const SEND_PAGE_LIFETIME: Duration = Duration::from_secs(3600);
/// Upload pages kept per user; the oldest is forgotten first.
const SEND_PAGES_PER_USER: usize = 8;

/// Why a link could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// No such token (never, or no longer: finished, declined, expired).
    Gone,
    /// An upload before the offer was accepted.
    NotYet,
    /// The link was opened already.
    InUse,
}

/// What an opened link carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub transfer: u64,
    pub size: u64,
    pub name: Box<str>,
}

impl Hub {
    /// The link of `token` under this server's files URL.
    fn link(&self, path: &str, token: u128) -> Option<String> {
        self.files_url
            .as_deref()
            .map(|base| format!("{base}/{path}/{token:032x}"))
    }

    /// A fresh token, never 0 (0 means none).
    pub(super) fn new_token(&mut self) -> u128 {
        loop {
            let t = (self.token_source)();
            if t != 0
                && !self.tokens.contains_key(&t)
                && !self.send_pages.contains_key(&t)
                && !self.hosted.contains(t)
            {
                return t;
            }
        }
    }

    pub(super) fn offer(
        &mut self,
        id: ClientId,
        to: &str,
        size: u64,
        name: &str,
        now: Instant,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let Some(to_id) = self.user_id(to) else {
            return sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchNick(to)));
        };
        self.offer_to(id, to_id, size, name, now, sink);
    }

    /// An offer from `id` to `to_id`; returns the transfer id if it stands.
    fn offer_to(
        &mut self,
        id: ClientId,
        to_id: ClientId,
        size: u64,
        name: &str,
        now: Instant,
        sink: &mut impl Sink,
    ) -> Option<u64> {
        let (me, recipient) = (self.user(id)?, self.user(to_id)?);
        if is_remote(to_id) {
            // Across nodes a transfer would need its own flow control through the bus.
            let fail = Fail::RemoteFiles(recipient.nick());
            sink.one(id, me.nick(), &Event::Fail(fail));
            return None;
        }
        if size > self.cfg.max_file_size {
            let f = Fail::FileTooLarge {
                size,
                max: self.cfg.max_file_size,
            };
            sink.one(id, me.nick(), &Event::Fail(f));
            return None;
        }
        let links = self.files_url.is_some();
        let reachable = |u: &User| u.files == FileWay::InBand || links;
        if !reachable(recipient) || !reachable(me) {
            if !reachable(recipient) {
                // The recipient hears of the offer it cannot take, so it is not invisible.
                let told = Extra::FileOffered {
                    from: me.source(),
                    name,
                    size,
                };
                sink.one(to_id, recipient.nick(), &Event::Extra(told));
            }
            let fail = Fail::CannotReceiveFiles(recipient.nick());
            sink.one(id, me.nick(), &Event::Fail(fail));
            return None;
        }
        let max = self.cfg.max_transfers_per_user;
        if self.open_transfers(id) >= max {
            sink.one(id, me.nick(), &Event::Fail(Fail::TooManyTransfers(max)));
            return None;
        }
        if self.open_transfers(to_id) >= max {
            let fail = Fail::CannotReceiveFiles(recipient.nick());
            sink.one(id, me.nick(), &Event::Fail(fail));
            return None;
        }
        let (up_token, down_token) = (self.new_token(), self.new_token());
        // Numbered only once the offer stands, so ids have no gaps.
        let tid = self.next_transfer;
        self.next_transfer += 1;
        self.transfers.insert(
            tid,
            Transfer {
                from: id,
                to: to_id,
                size,
                sent: 0,
                accepted: false,
                last_data: now,
                name: name.into(),
                from_pipe: None,
                to_pipe: None,
                up_token,
                down_token,
            },
        );
        self.tokens.insert(up_token, tid);
        self.tokens.insert(down_token, tid);
        for end in [id, to_id] {
            self.transfers_of.entry(end).or_default().push(tid);
        }
        self.offers.push_back((now + self.cfg.offer_timeout, tid));
        let meta = self.next_meta();
        let (me, recipient) = (self.user(id)?, self.user(to_id)?);
        let upload = (me.files == FileWay::Link)
            .then(|| self.link("f", up_token))
            .flatten();
        let download = (recipient.files == FileWay::Link)
            .then(|| self.link("f", down_token))
            .flatten();
        let offered = FileEvent::Offered {
            id: tid,
            to: recipient.nick(),
            size,
            name,
            upload: upload.as_deref(),
        };
        sink.one(id, me.nick(), &Event::File(offered));
        let offer = FileEvent::Offer {
            id: tid,
            from: me.source(),
            size,
            name,
            download: download.as_deref(),
        };
        sink.one(to_id, recipient.nick(), &Event::File(offer));
        sink.keep_message(&Kept {
            meta,
            from: me.party(),
            to: KeptTo::Direct(recipient.party()),
            kind: KeptKind::FileOffer { size },
            text: name,
            tags: "",
        });
        Some(tid)
    }

    fn open_transfers(&self, id: ClientId) -> usize {
        self.transfers_of.get(&id).map_or(0, Vec::len)
    }

    /// Forgets a transfer, at both ends.
    fn end_transfer(&mut self, tid: u64) -> Option<Transfer> {
        let t = self.transfers.remove(&tid)?;
        self.tokens.remove(&t.up_token);
        self.tokens.remove(&t.down_token);
        for end in [t.from, t.to] {
            if let Some(list) = self.transfers_of.get_mut(&end) {
                list.retain(|&x| x != tid);
                if list.is_empty() {
                    self.transfers_of.remove(&end);
                }
            }
        }
        Some(t)
    }

    /// Tells both ends of a transfer.
    fn tell_both(&self, t: &Transfer, ev: FileEvent<'_>, sink: &mut impl Sink) {
        for end in [t.from, t.to] {
            if let Some(u) = self.user(end) {
                sink.one(end, u.nick(), &Event::File(ev));
            }
        }
    }

    pub(super) fn answer_offer(
        &mut self,
        id: ClientId,
        tid: u64,
        accept: bool,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let Some(t) = self
            .transfers
            .get(&tid)
            .filter(|t| t.to == id && !t.accepted)
        else {
            return sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchTransfer(tid)));
        };
        if !accept {
            self.tell_both(t, FileEvent::Declined(tid), sink);
            self.end_transfer(tid);
            return;
        }
        if me.files == FileWay::Link {
            // The bytes need somewhere to go: the download link, which accepts when opened.
            return sink.one(id, me.nick(), &Event::Fail(Fail::OpenTheLink(tid)));
        }
        self.accept(tid, sink);
    }

    /// The recipient consents: both ends hear it; an empty file is done at once.
    fn accept(&mut self, tid: u64, sink: &mut impl Sink) {
        let Some(t) = self.transfers.get(&tid) else {
            return;
        };
        self.tell_both(t, FileEvent::Accepted(tid), sink);
        if t.size == 0 {
            self.tell_both(t, FileEvent::Done(tid), sink);
            self.end_transfer(tid);
        } else if let Some(t) = self.transfers.get_mut(&tid) {
            t.accepted = true;
            t.last_data = self.now.mono;
            let at = self.now.mono + self.cfg.transfer_idle;
            self.idle.push(Reverse((at, tid)));
        }
    }

    /// What a link token opens, if anything.
    pub fn token(&self, token: u128) -> Option<TokenFor> {
        if let Some(&tid) = self.tokens.get(&token) {
            let t = self.transfers.get(&tid)?;
            return Some(if t.up_token == token {
                TokenFor::Upload(tid)
            } else {
                TokenFor::Download(tid)
            });
        }
        self.send_pages
            .get(&token)
            .filter(|p| p.until > self.now.mono)
            .map(|_| TokenFor::SendPage(token))
    }

    /// A download link was opened by connection `pipe`: the offer is accepted and the bytes
    /// go to `pipe` from now on.
    pub fn open_download(
        &mut self,
        tid: u64,
        pipe: ClientId,
        now: Clock,
        sink: &mut impl Sink,
    ) -> Result<Opened, LinkRefusal> {
        self.now = now;
        let t = self.transfers.get_mut(&tid).ok_or(LinkRefusal::Gone)?;
        if t.to_pipe.is_some() {
            return Err(LinkRefusal::InUse);
        }
        t.to_pipe = Some(pipe);
        let opened = Opened {
            transfer: tid,
            size: t.size,
            name: t.name.clone(),
        };
        if !t.accepted {
            self.accept(tid, sink);
        }
        Ok(opened)
    }

    /// An upload link was opened by connection `pipe`: its body is the file.
    pub fn open_upload(
        &mut self,
        tid: u64,
        pipe: ClientId,
        now: Clock,
    ) -> Result<(Opened, ClientId), LinkRefusal> {
        self.now = now;
        let t = self.transfers.get_mut(&tid).ok_or(LinkRefusal::Gone)?;
        if !t.accepted {
            return Err(LinkRefusal::NotYet);
        }
        if t.from_pipe.is_some() || t.sent > 0 {
            return Err(LinkRefusal::InUse);
        }
        t.from_pipe = Some(pipe);
        let to = t.to_pipe.unwrap_or(t.to);
        let opened = Opened {
            transfer: tid,
            size: t.size,
            name: t.name.clone(),
        };
        Ok((opened, to))
    }

    /// The recipient declined by its link.
    pub fn decline_by_link(&mut self, tid: u64, now: Clock, sink: &mut impl Sink) {
        self.now = now;
        if let Some(t) = self.transfers.get(&tid).filter(|t| !t.accepted) {
            self.tell_both(t, FileEvent::Declined(tid), sink);
            self.end_transfer(tid);
        }
    }

    /// The state of a transfer as its upload page shows it.
    pub fn transfer_state(&self, tid: u64) -> &'static str {
        match self.transfers.get(&tid) {
            None => "gone",
            Some(t) if !t.accepted => "offered",
            Some(t) if t.sent == 0 => "accepted",
            Some(_) => "sending",
        }
    }

    /// A connection that carried a transfer's bytes closed: the transfer ends with it.
    pub fn pipe_closed(&mut self, tid: u64, pipe: ClientId, sink: &mut impl Sink) {
        let Some(t) = self.transfers.get(&tid) else {
            return;
        };
        if t.from_pipe == Some(pipe) || t.to_pipe == Some(pipe) {
            let reason = if t.to_pipe == Some(pipe) {
                AbortReason::DownloadClosed
            } else {
                AbortReason::UploadClosed
            };
            self.abort(tid, reason, sink);
        }
    }

    /// A page on which `id` can pick files for `to` (for users whose protocol cannot send
    /// files); returns its link.
    pub fn send_page<'a>(
        &mut self,
        id: ClientId,
        to: &'a str,
        now: Clock,
    ) -> Result<String, Fail<'a>> {
        self.now = now;
        let to_id = self.user_id(to).ok_or(Fail::NoSuchNick(to))?;
        if self.files_url.is_none() {
            return Err(Fail::CannotReceiveFiles(to));
        }
        let mine: Vec<u128> = self
            .send_pages
            .iter()
            .filter(|(_, p)| p.from == id)
            .map(|(&t, _)| t)
            .collect();
        if mine.len() >= SEND_PAGES_PER_USER {
            let oldest = mine
                .iter()
                .min_by_key(|t| self.send_pages.get(t).map(|p| p.until));
            if let Some(t) = oldest.copied() {
                self.send_pages.remove(&t);
            }
        }
        let token = self.new_token();
        let until = now.mono + SEND_PAGE_LIFETIME;
        self.send_pages.insert(
            token,
            SendPage {
                from: id,
                to: to_id,
                until,
            },
        );
        self.link("u", token).ok_or(Fail::CannotReceiveFiles(to))
    }

    /// An offer made on an upload page: from its owner to its recipient. Returns the
    /// transfer and its upload token.
    pub fn offer_from_page(
        &mut self,
        page: u128,
        size: u64,
        name: &str,
        now: Clock,
        sink: &mut impl Sink,
    ) -> Result<(u64, u128), LinkRefusal> {
        self.now = now;
        let p = self
            .send_pages
            .get(&page)
            .filter(|p| p.until > now.mono)
            .ok_or(LinkRefusal::Gone)?;
        let (from, to) = (p.from, p.to);
        let tid = self
            .offer_to(from, to, size, name, now.mono, sink)
            .ok_or(LinkRefusal::NotYet)?;
        let up = self.transfers.get(&tid).map_or(0, |t| t.up_token);
        Ok((tid, up))
    }

    pub(super) fn cancel(&mut self, id: ClientId, tid: u64, sink: &mut impl Sink) {
        let nick = self.nick(id).unwrap_or("");
        match self
            .transfers
            .get(&tid)
            .filter(|t| t.from == id || t.to == id)
        {
            Some(_) => {
                let nick: Box<str> = nick.into();
                self.abort(tid, AbortReason::CancelledBy(&nick), sink);
            }
            None => sink.one(id, nick, &Event::Fail(Fail::NoSuchTransfer(tid))),
        }
    }

    /// Aborts one transfer, telling both ends why.
    pub fn abort(&mut self, tid: u64, reason: AbortReason<'_>, sink: &mut impl Sink) {
        if let Some(t) = self.end_transfer(tid) {
            self.tell_both(&t, FileEvent::Abort { id: tid, reason }, sink);
        }
    }

    /// Aborts every transfer of `id`, which is leaving: only the other ends are told.
    pub(super) fn abort_transfers_of(
        &mut self,
        id: ClientId,
        reason: AbortReason<'_>,
        sink: &mut impl Sink,
    ) {
        self.send_pages.retain(|_, p| p.from != id && p.to != id);
        let mine = self.transfers_of.get(&id).cloned().unwrap_or_default();
        for tid in mine {
            let Some(t) = self.end_transfer(tid) else {
                continue;
            };
            let other = if t.from == id { t.to } else { t.from };
            if let Some(u) = self.user(other) {
                let ev = Event::File(FileEvent::Abort { id: tid, reason });
                sink.one(other, u.nick(), &ev);
            }
        }
    }

    /// Aborts every transfer (server shutdown).
    pub fn abort_all_transfers(&mut self, sink: &mut impl Sink) {
        let all: Vec<u64> = self.transfers.keys().copied().collect();
        for tid in all {
            self.abort(tid, AbortReason::ShuttingDown, sink);
        }
    }

    /// Where a data frame of `len` bytes from `id` (the sender, or its upload pipe) for
    /// transfer `tid` goes. A frame that would pass the offered size aborts the transfer.
    pub fn route_data(&mut self, id: ClientId, tid: u64, len: u64, sink: &mut impl Sink) -> Route {
        let mine = |t: &Transfer| t.from == id || t.from_pipe == Some(id);
        match self.transfers.get(&tid) {
            Some(t) if mine(t) && t.accepted => {
                if t.sent + len > t.size {
                    self.abort(tid, AbortReason::TooMuchData, sink);
                    return Route::Refused("more bytes than offered; the transfer is aborted");
                }
                match t.to_pipe {
                    Some(pipe) => Route::To(pipe),
                    None if self.user(t.to).is_some_and(|u| u.files == FileWay::InBand) => {
                        Route::To(t.to)
                    }
                    None => Route::Refused("the recipient has not opened its link yet"),
                }
            }
            Some(t) if mine(t) => Route::Refused("the transfer is not accepted yet"),
            _ => Route::Refused("no such transfer of yours"),
        }
    }

    /// Whether a transfer is still going (it may have been cancelled mid-frame).
    pub fn transfer_active(&self, tid: u64) -> bool {
        self.transfers.contains_key(&tid)
    }

    /// Counts `len` bytes forwarded; tells both ends when the file is complete.
    pub fn data_forwarded(&mut self, tid: u64, len: u64, sink: &mut impl Sink) {
        let now = self.now.mono;
        let Some(t) = self.transfers.get_mut(&tid) else {
            return;
        };
        t.sent += len;
        t.last_data = now;
        if t.sent == t.size {
            if let Some(t) = self.end_transfer(tid) {
                self.tell_both(&t, FileEvent::Done(tid), sink);
            }
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let offer = self.offers.front().map(|&(at, _)| at);
        let idle = self.idle.peek().map(|Reverse((at, _))| *at);
        offer.into_iter().chain(idle).chain(self.next_grace()).min()
    }

    /// Expires unanswered offers and aborts idle transfers whose time has come.
    pub fn expire(&mut self, now: Instant, sink: &mut impl Sink) {
        while let Some(&(at, tid)) = self.offers.front() {
            if at > now {
                break;
            }
            self.offers.pop_front();
            if let Some(t) = self.transfers.get(&tid).filter(|t| !t.accepted) {
                self.tell_both(t, FileEvent::Expired(tid), sink);
                self.end_transfer(tid);
            }
        }
        while let Some(&Reverse((at, tid))) = self.idle.peek() {
            if at > now {
                break;
            }
            self.idle.pop();
            let Some(last) = self.transfers.get(&tid).map(|t| t.last_data) else {
                continue; // finished meanwhile
            };
            let due = last + self.cfg.transfer_idle;
            if due <= now {
                self.abort(tid, AbortReason::Idle, sink);
            } else {
                self.idle.push(Reverse((due, tid)));
            }
        }
        if self.send_pages.values().any(|p| p.until <= now) {
            self.send_pages.retain(|_, p| p.until > now);
        }
        self.expire_grace(now, sink);
    }
}
