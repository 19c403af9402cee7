//! File transfers: offers, answers, routing data frames with their size checks, and the
//! deadlines: unanswered offers expire, accepted transfers that go idle are aborted. A user
//! has at most `max_transfers_per_user` open at once, kept per user so a disconnect finds its
//! transfers without looking at anyone else's.

use std::cmp::Reverse;

use super::*;

impl Hub {
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
        if size > self.cfg.max_file_size {
            let f = Fail::FileTooLarge {
                size,
                max: self.cfg.max_file_size,
            };
            return sink.one(id, &me.nick, &Event::Fail(f));
        }
        let Some(to_id) = self.user_id(to) else {
            return sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchNick(to)));
        };
        let Some(recipient) = self.user(to_id) else {
            return;
        };
        if !recipient.files {
            // The recipient hears of the offer it cannot take, so it is not invisible.
            let told = Extra::FileOffered {
                from: me.source(),
                name,
                size,
            };
            sink.one(to_id, &recipient.nick, &Event::Extra(told));
            let fail = Fail::CannotReceiveFiles(&recipient.nick);
            return sink.one(id, &me.nick, &Event::Fail(fail));
        }
        let max = self.cfg.max_transfers_per_user;
        if self.open_transfers(id) >= max {
            return sink.one(id, &me.nick, &Event::Fail(Fail::TooManyTransfers(max)));
        }
        if self.open_transfers(to_id) >= max {
            let fail = Fail::CannotReceiveFiles(&recipient.nick);
            return sink.one(id, &me.nick, &Event::Fail(fail));
        }
        // Numbered only once the offer stands, so ids have no gaps.
        let tid = self.next_transfer;
        self.transfers.insert(
            tid,
            Transfer {
                from: id,
                to: to_id,
                size,
                sent: 0,
                accepted: false,
                last_data: now,
            },
        );
        for end in [id, to_id] {
            self.transfers_of.entry(end).or_default().push(tid);
        }
        self.next_transfer += 1;
        self.offers.push_back((now + self.cfg.offer_timeout, tid));
        let (Some(me), Some(recipient)) = (self.user(id), self.user(to_id)) else {
            return;
        };
        let offered = FileEvent::Offered {
            id: tid,
            to: &recipient.nick,
            size,
            name,
        };
        sink.one(id, &me.nick, &Event::File(offered));
        let offer = FileEvent::Offer {
            id: tid,
            from: &me.nick,
            size,
            name,
        };
        sink.one(to_id, &recipient.nick, &Event::File(offer));
    }

    fn open_transfers(&self, id: ClientId) -> usize {
        self.transfers_of.get(&id).map_or(0, Vec::len)
    }

    /// Forgets a transfer, at both ends.
    fn end_transfer(&mut self, tid: u64) -> Option<Transfer> {
        let t = self.transfers.remove(&tid)?;
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
                sink.one(end, &u.nick, &Event::File(ev));
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
        let nick = self.nick(id).unwrap_or("");
        let Some(t) = self
            .transfers
            .get(&tid)
            .filter(|t| t.to == id && !t.accepted)
        else {
            return sink.one(id, nick, &Event::Fail(Fail::NoSuchTransfer(tid)));
        };
        if !accept {
            self.tell_both(t, FileEvent::Declined(tid), sink);
            self.end_transfer(tid);
            return;
        }
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
        let mine = self.transfers_of.get(&id).cloned().unwrap_or_default();
        for tid in mine {
            let Some(t) = self.end_transfer(tid) else {
                continue;
            };
            let other = if t.from == id { t.to } else { t.from };
            if let Some(u) = self.user(other) {
                let ev = Event::File(FileEvent::Abort { id: tid, reason });
                sink.one(other, &u.nick, &ev);
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

    /// Where a data frame of `len` bytes from `id` for transfer `tid` goes. A frame that would
    /// pass the offered size aborts the transfer.
    pub fn route_data(&mut self, id: ClientId, tid: u64, len: u64, sink: &mut impl Sink) -> Route {
        match self.transfers.get(&tid) {
            Some(t) if t.from == id && t.accepted => {
                if t.sent + len > t.size {
                    self.abort(tid, AbortReason::TooMuchData, sink);
                    return Route::Refused("more bytes than offered; the transfer is aborted");
                }
                Route::To(t.to)
            }
            Some(t) if t.from == id => Route::Refused("the transfer is not accepted yet"),
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
        offer.into_iter().chain(idle).min()
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
    }
}
