//! Pacing across the whole run. Cases run concurrently, but the server's rate limits and its password hashing
//! are shared by all of them: a `429` one case receives says when *every* case may send that kind of request
//! again, and forty registrations at once make a healthy server look dead.
//!
//! So requests go through lanes: one per expensive kind (login, registration, other password checks), each
//! with a small concurrency cap, and one per endpoint that ever answered `429`. A lane learns from the
//! server: a `429` sets the time before which nothing more is sent on it and narrows it to one request at a
//! time (Synapse's limiters admit one request per interval after a burst); a timeout while the suite itself
//! crowded the lane halves its cap; the slowest answer seen stretches the timeout of the next. Every case waits
//! its turn in order (the semaphore is fair). One wait is bounded by `--max-wait`, all waiting by the run's
//! `--wait-budget`.
//!
//! A lane that has answered `429` models the server's limiter as a refill bucket: its burst is spent, so after
//! each request nothing more goes out on it for one interval (the longest wait a `429` asked for), and cases
//! queue for the next token instead of each provoking a `429` of its own. With the interval learned and the
//! run's planned logins known, a wait's progress line says how many logins are left and about how long they
//! will take.
//!
//! A case that logs in with a password while it holds a session (its own earlier login, a set-up login as an
//! application service) reserves the login lane for its password logins before its first step: they go out
//! together, and once the server has rate-limited logins, only after enough intervals for all of them.
//! Otherwise its first session could expire while it waits for its next login, and the case would judge an
//! access token the wait killed. A case whose turn would still come after one of its sessions expired (the first
//! `429` of a run cannot be foreseen) is told so at once, and starts again rather than spend the server's next
//! token on a login it would throw away.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, OwnedSemaphorePermit, RwLock, Semaphore,
};
// Tokio's clock, so that the tests can run on paused time.
use tokio::time::Instant;

use crate::cause::Limit;
use crate::http::error::HttpError;
use crate::transcript::Transcript;

/// Requests of one expensive kind in flight at once: enough to overlap network and hashing, few enough that a
/// two-core server hashing at bcrypt cost 12 answers each well within the default timeout.
pub const EXPENSIVE_CAP: usize = 2;
/// A request gets at least this many times the slowest answer its lane has seen before it times out.
const SLOWEST_FACTOR: u32 = 4;
/// Waits shorter than this are not worth a progress line.
const ANNOUNCE_FROM: Duration = Duration::from_secs(2);
/// A wait at least this long that would end after a session of the case expired is not waited out.
const OUTLIVE_FROM: Duration = Duration::from_secs(1);

/// What each kind of request cost the run, for the report and the advice.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LimitStats {
    /// `429` answers received.
    pub rate_limited: u32,
    /// The longest wait a `429` asked for: the server's interval between two requests once its burst is spent.
    #[serde(rename = "longest_asked_ms", serialize_with = "millis")]
    pub longest_asked: Duration,
    /// Requests that waited for their turn behind a rate limit, and how long in all.
    pub waits: u32,
    #[serde(rename = "waited_ms", serialize_with = "millis")]
    pub waited: Duration,
    /// Requests that got no answer in time, and how many of them while the suite had others in flight.
    pub timeouts: u32,
    pub crowded_timeouts: u32,
    /// The slowest answer.
    #[serde(rename = "slowest_ms", serialize_with = "millis")]
    pub slowest: Duration,
    /// Requests the server admitted before its first `429`: its burst, as far as the run saw it.
    pub burst: u32,
    /// Requests the selected cases were planned to send (password logins only), and those not sent yet.
    pub planned: u32,
    pub left: u32,
}

impl LimitStats {
    /// How long the requests not yet sent need at the learned pace (`None` before any `429`).
    pub fn time_left(&self) -> Option<Duration> {
        (self.rate_limited > 0).then(|| self.longest_asked * self.left)
    }
}

fn millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_millis() as u64)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LaneKey {
    limit: Limit,
    /// The path of an endpoint lane; empty for the expensive kinds.
    path: String,
}

#[derive(Debug)]
struct Lane {
    /// Read for one request, written for a case's reservation of several (fair: a waiting reservation holds
    /// back later requests).
    exclusive: Arc<RwLock<()>>,
    permits: Arc<Semaphore>,
    state: Mutex<LaneState>,
}

#[derive(Debug)]
struct LaneState {
    cap: usize,
    /// Permits to retire as they come back, because the cap shrank.
    surplus: usize,
    /// Nothing is sent on the lane before this.
    not_before: Option<Instant>,
    /// The `not_before` a progress line was printed for.
    announced: Option<Instant>,
    /// Requests waiting for a permit.
    queued: usize,
    in_flight: usize,
    slowest: Duration,
    /// The longest wait a `429` asked for: the server's interval between two requests once its burst is spent.
    interval: Duration,
    /// Answers before the first `429`: the bucket's size, as far as the run saw it.
    burst: u32,
}

impl Lane {
    fn new(cap: usize) -> Lane {
        Lane {
            exclusive: Arc::new(RwLock::new(())),
            permits: Arc::new(Semaphore::new(cap)),
            state: Mutex::new(LaneState {
                cap,
                surplus: 0,
                not_before: None,
                announced: None,
                queued: 0,
                in_flight: 0,
                slowest: Duration::ZERO,
                interval: Duration::ZERO,
                burst: 0,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request goes out on a lane the server has limited: it takes one token of the server's bucket, and
    /// `not_before` becomes the time the next one is there; a bucket left idle holds up to `burst` of them (the
    /// generic cell rate algorithm). Taken when the request is sent, not answered, so that requests that waited
    /// for the same moment go out one per interval.
    fn take_token(state: &mut LaneState, now: Instant) {
        if state.interval.is_zero() {
            return;
        }
        let full = state.interval * state.burst.saturating_sub(1);
        let earliest = now.checked_sub(full).unwrap_or(now);
        let from = state.not_before.map_or(earliest, |at| at.max(earliest));
        state.not_before = from.checked_add(state.interval);
    }

    fn narrow_to(state: &mut LaneState, cap: usize) {
        if cap < state.cap {
            state.surplus += state.cap - cap;
            state.cap = cap;
        }
    }
}

/// A wait long enough to tell the user about while it happens; `report::console` words it.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub limit: Limit,
    pub wait: Duration,
    pub kind: WaitKind,
    /// What the kind of request has cost so far, for how many of the run's requests are left and how long
    /// they need at the learned pace.
    pub stats: LimitStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitKind {
    /// For the server to admit this many requests of one case together.
    Together(usize),
    /// For a rate limit the server announced, with this many more requests queued behind.
    Announced { queued: usize },
}

/// Who is told of a long wait while it happens; `None`: nobody (the suite's own tests).
pub type Progress = Option<fn(&Waiting)>;

/// The run's pacer, shared by every request through [`crate::http::Http`].
#[derive(Debug)]
pub struct Pacer {
    max_wait: Duration,
    wait_budget: Option<Duration>,
    started: Instant,
    progress: Progress,
    lanes: Mutex<HashMap<LaneKey, Arc<Lane>>>,
    stats: Mutex<BTreeMap<Limit, LimitStats>>,
}

impl Pacer {
    pub fn new(max_wait: Duration, wait_budget: Option<Duration>, progress: Progress) -> Pacer {
        Pacer {
            max_wait,
            wait_budget,
            started: Instant::now(),
            progress,
            lanes: Mutex::new(HashMap::new()),
            stats: Mutex::new(BTreeMap::new()),
        }
    }

    /// What each kind of request cost so far.
    pub fn stats(&self) -> BTreeMap<Limit, LimitStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, limit: Limit, update: impl FnOnce(&mut LimitStats)) {
        update(
            self.stats
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(limit)
                .or_default(),
        );
    }

    /// The run's cases will send `count` requests of `limit` (password logins), for the estimates of progress
    /// lines and advice.
    pub fn plan(&self, limit: Limit, count: u32) {
        self.record(limit, |s| {
            s.planned += count;
            s.left += count;
        });
    }

    /// Tells `progress` of a wait worth a line.
    fn announce(&self, limit: Limit, wait: Duration, kind: WaitKind) {
        if let Some(progress) = self.progress
            && wait >= ANNOUNCE_FROM
        {
            progress(&Waiting {
                limit,
                wait,
                kind,
                stats: self.stats().remove(&limit).unwrap_or_default(),
            });
        }
    }

    fn key(limit: Limit, path: &str) -> LaneKey {
        let path = if limit.expensive() {
            String::new()
        } else {
            path.split('?').next().unwrap_or(path).to_owned()
        };
        LaneKey { limit, path }
    }

    /// The lane of a request: always one for the expensive kinds, one for other endpoints once they answered
    /// `429` (`create`).
    fn lane(&self, limit: Limit, path: &str, create: bool) -> Option<Arc<Lane>> {
        let key = Self::key(limit, path);
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lane) = lanes.get(&key) {
            return Some(lane.clone());
        }
        if !limit.expensive() && !create {
            return None;
        }
        let cap = if limit.expensive() { EXPENSIVE_CAP } else { 1 };
        let lane = Arc::new(Lane::new(cap));
        lanes.insert(key, lane.clone());
        Some(lane)
    }

    /// Reserves the lane of `limit` for `count` requests of one case, which then go out together (see the
    /// module comment); `None` for no request. Once the server has rate-limited the lane, waits until it
    /// should admit them all. One request is worth reserving too, when it must go out while a session the
    /// case opened earlier (by other means) is alive: its turn is then taken before that session exists.
    pub async fn reserve(
        &self,
        limit: Limit,
        count: usize,
        transcript: &mut Transcript,
    ) -> Result<Option<Reservation>, HttpError> {
        if count == 0 {
            return Ok(None);
        }
        let lane = self
            .lane(limit, "", true)
            .expect("a lane is created on demand");
        let queued = transcript.clock().waiting();
        let guard = lane.exclusive.clone().write_owned().await;
        drop(queued);
        let (until, interval) = {
            let state = lane.state();
            let extra = state.interval * (count as u32 - 1);
            (state.not_before.map(|next| next + extra), state.interval)
        };
        if let Some(until) = until.filter(|until| *until > Instant::now()) {
            let wait = until - Instant::now();
            // `--max-wait` bounds a wait the server asks for, one interval; several intervals for a case's
            // logins together are a queue, which the wait budget bounds.
            self.check_wait(limit, until, wait.min(interval))?;
            transcript.note(&format!(
                "waiting {wait:?} for {} to admit this case's {count} requests together",
                limit.what()
            ));
            self.announce(limit, wait, WaitKind::Together(count));
            transcript.clock().add(wait);
            self.record(limit, |s| {
                s.waits += 1;
                s.waited += wait;
            });
            tokio::time::sleep_until(until).await;
            // The wait assumed that the server's bucket holds the case's requests: model it so.
            let mut state = lane.state();
            state.burst = state.burst.max(count as u32);
        }
        transcript.reserved = Some(limit);
        transcript.reserved_left = count as u32;
        Ok(Some(Reservation { _guard: guard }))
    }

    /// A wait until `until` is within `--max-wait` and the wait budget.
    fn check_wait(&self, limit: Limit, until: Instant, wait: Duration) -> Result<(), HttpError> {
        if wait > self.max_wait {
            return Err(HttpError::RateLimited {
                limit,
                asked: wait,
                max_wait: self.max_wait,
            });
        }
        if let Some(budget) = self.wait_budget
            && until > self.started + budget
        {
            return Err(HttpError::WaitBudget { limit, budget });
        }
        Ok(())
    }

    /// Waits for a place in the request's lane (if it has one); the place is held until the turn is dropped.
    /// A case that holds a reservation of the lane (in its `transcript`) does not queue behind it.
    pub async fn turn(&self, limit: Limit, path: &str, transcript: &Transcript) -> Turn<'_> {
        let reserved = transcript.reserved == Some(limit);
        let Some(lane) = self.lane(limit, path, false) else {
            return Turn {
                pacer: self,
                limit,
                path: path.to_owned(),
                lane: None,
                _shared: None,
                permit: None,
            };
        };
        let shared = if reserved {
            None
        } else {
            Some(lane.exclusive.clone().read_owned().await)
        };
        lane.state().queued += 1;
        let permit = lane
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("a lane's semaphore is never closed");
        {
            let mut state = lane.state();
            state.queued -= 1;
            state.in_flight += 1;
        }
        Turn {
            pacer: self,
            limit,
            path: path.to_owned(),
            lane: Some(lane),
            _shared: shared,
            permit: Some(permit),
        }
    }
}

/// A case's hold on a lane for several of its requests; released when dropped.
#[derive(Debug)]
pub struct Reservation {
    _guard: OwnedRwLockWriteGuard<()>,
}

/// A request's place in its lane.
pub struct Turn<'a> {
    pacer: &'a Pacer,
    limit: Limit,
    path: String,
    lane: Option<Arc<Lane>>,
    /// Keeps reservations out while the request is under way.
    _shared: Option<OwnedRwLockReadGuard<()>>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Turn<'_> {
    /// Waits until the lane may send again, within `--max-wait` for this wait and the run's wait budget.
    pub async fn wait(&self, transcript: &mut Transcript) -> Result<(), HttpError> {
        let Some(lane) = &self.lane else {
            return Ok(());
        };
        // A case's reserved requests go out together: the first waits until the server can take them all.
        let reserved = self._shared.is_none() && transcript.reserved == Some(self.limit);
        let together = if reserved {
            transcript.reserved_left.saturating_sub(1)
        } else {
            0
        };
        loop {
            let now = Instant::now();
            let (until, interval, announce, queued) = {
                let mut state = lane.state();
                let extra = state.interval * together;
                let until = match state.not_before {
                    Some(until) if until + extra > now => until + extra,
                    _ => {
                        // The wait assumed that the server's bucket holds the reserved requests.
                        state.burst = state.burst.max(together + 1);
                        Lane::take_token(&mut state, now);
                        return Ok(());
                    }
                };
                // Requests that were in flight together learn nearly the same time: one line for them all.
                let announce = state
                    .announced
                    .is_none_or(|shown| until > shown + ANNOUNCE_FROM);
                if announce {
                    state.announced = Some(until);
                }
                (until, state.interval, announce, state.queued)
            };
            let wait = until - now;
            // As in `reserve`: `--max-wait` bounds what the server asks for, one interval; the intervals for
            // the case's other reserved requests are a queue, which the wait budget bounds.
            self.pacer
                .check_wait(self.limit, until, wait.min(interval))?;
            // A request sent after a session of its case expired would serve a case that starts again: the
            // server's token is better left for the next attempt, or for another case.
            if wait >= OUTLIVE_FROM
                && transcript
                    .sessions_expire
                    .is_some_and(|expires| until > expires)
            {
                return Err(HttpError::OutlivesSession {
                    limit: self.limit,
                    wait,
                });
            }
            if announce {
                self.pacer
                    .announce(self.limit, wait, WaitKind::Announced { queued });
            }
            transcript.note(&format!(
                "waiting {wait:?} for {} (learned from a 429)",
                self.limit.what()
            ));
            transcript.clock().add(wait);
            self.pacer.record(self.limit, |s| {
                s.waits += 1;
                s.waited += wait;
            });
            tokio::time::sleep_until(until).await;
        }
    }

    /// The timeout of the next attempt: the run's, or more when the lane's answers have been slow.
    pub fn timeout(&self, base: Duration) -> Duration {
        match &self.lane {
            Some(lane) => base.max(lane.state().slowest * SLOWEST_FACTOR),
            None => base,
        }
    }

    /// The server answered (not `429`) after `latency`.
    pub fn answered(&self, latency: Duration) {
        if let Some(lane) = &self.lane {
            let mut state = lane.state();
            state.slowest = state.slowest.max(latency);
            if state.interval.is_zero() {
                state.burst += 1;
            }
        }
        self.pacer.record(self.limit, |s| {
            s.slowest = s.slowest.max(latency);
            if s.rate_limited == 0 {
                s.burst += 1;
            }
            s.left = s.left.saturating_sub(1);
        });
    }

    /// The server answered `429` asking for `asked`: the whole lane waits, one request at a time from now on.
    /// A wait over `--max-wait` ends this request.
    pub fn rate_limited(&mut self, asked: Duration) -> Result<(), HttpError> {
        self.pacer.record(self.limit, |s| {
            s.rate_limited += 1;
            s.longest_asked = s.longest_asked.max(asked);
        });
        if self.lane.is_none() {
            // An endpoint's first 429: from now on it has a lane, and this request is its first user.
            self.lane = self.pacer.lane(self.limit, &self.path, true);
        }
        if let Some(lane) = &self.lane {
            let mut state = lane.state();
            // The server's word on when its next token is there replaces the model's: a request sent when
            // the model expected a token (the interval learned from the first 429 can fall a little short of
            // the server's period) took none, and waits only what the server asks.
            state.not_before = Instant::now().checked_add(asked);
            state.interval = state.interval.max(asked);
            Lane::narrow_to(&mut state, 1);
        }
        if asked > self.pacer.max_wait {
            return Err(HttpError::RateLimited {
                limit: self.limit,
                asked,
                max_wait: self.pacer.max_wait,
            });
        }
        Ok(())
    }

    /// No answer in time. When the suite had other requests in the lane, the lane's cap is halved.
    pub fn timed_out(&self) {
        let crowded = self.lane.as_ref().is_some_and(|lane| {
            let mut state = lane.state();
            let crowded = state.in_flight > 1;
            if crowded {
                let half = (state.cap / 2).max(1);
                Lane::narrow_to(&mut state, half);
            }
            crowded
        });
        self.pacer.record(self.limit, |s| {
            s.timeouts += 1;
            s.crowded_timeouts += u32::from(crowded);
        });
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let (Some(lane), Some(permit)) = (&self.lane, self.permit.take()) else {
            return;
        };
        let mut state = lane.state();
        state.in_flight -= 1;
        if state.surplus > 0 {
            state.surplus -= 1;
            permit.forget();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A turn of a case that holds no reservation.
    async fn queued<'a>(pacer: &'a Pacer, limit: Limit, path: &str) -> Turn<'a> {
        pacer.turn(limit, path, &Transcript::default()).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_makes_every_later_request_of_its_kind_wait() {
        let pacer = Pacer::new(Duration::from_secs(60), None, None);
        let mut transcript = Transcript::default();
        let mut first = queued(&pacer, Limit::Login, "/_matrix/client/v3/login").await;
        first.rate_limited(Duration::from_secs(5)).unwrap();
        drop(first);
        let started = Instant::now();
        let second = queued(&pacer, Limit::Login, "/_matrix/client/v3/login").await;
        second.wait(&mut transcript).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(5));
        assert_eq!(transcript.clock().total(), Duration::from_secs(5));
        let stats = &pacer.stats()[&Limit::Login];
        assert_eq!((stats.rate_limited, stats.waits), (1, 1));
    }

    /// After a 429, the lane behaves as the server's bucket: one request per interval, with no 429 of its own.
    #[tokio::test(start_paused = true)]
    async fn a_limited_lane_sends_one_request_per_interval() {
        let pacer = Pacer::new(Duration::from_secs(600), None, None);
        pacer.plan(Limit::Login, 4);
        let mut transcript = Transcript::default();
        for _ in 0..2 {
            let turn = queued(&pacer, Limit::Login, "/login").await;
            turn.wait(&mut transcript).await.unwrap();
            turn.answered(Duration::from_millis(10));
        }
        let mut limited = queued(&pacer, Limit::Login, "/login").await;
        limited.rate_limited(Duration::from_secs(333)).unwrap();
        limited.wait(&mut transcript).await.unwrap();
        limited.answered(Duration::from_millis(10));
        drop(limited);
        let started = Instant::now();
        let next = queued(&pacer, Limit::Login, "/login").await;
        next.wait(&mut transcript).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(333));
        let stats = &pacer.stats()[&Limit::Login];
        assert_eq!(stats.burst, 2);
        assert_eq!((stats.planned, stats.left, stats.rate_limited), (4, 1, 1));
        assert_eq!(stats.time_left(), Some(Duration::from_secs(333)));
    }

    /// Two requests that held places when the 429 came wait for the same moment: they go out one interval
    /// apart, not together (the second would only earn a 429 of its own).
    #[tokio::test(start_paused = true)]
    async fn requests_waiting_for_the_same_moment_go_out_one_interval_apart() {
        let pacer = Pacer::new(Duration::from_secs(900), None, None);
        let mut a = queued(&pacer, Limit::Login, "/login").await;
        let b = queued(&pacer, Limit::Login, "/login").await;
        a.rate_limited(Duration::from_secs(100)).unwrap();
        let started = Instant::now();
        let (mut ta, mut tb) = (Transcript::default(), Transcript::default());
        let (first, second) = tokio::join!(
            async {
                a.wait(&mut ta).await.unwrap();
                started.elapsed()
            },
            async {
                b.wait(&mut tb).await.unwrap();
                started.elapsed()
            }
        );
        let mut times = [first, second];
        times.sort();
        assert_eq!(times, [Duration::from_secs(100), Duration::from_secs(200)]);
    }

    /// The interval learned from the first 429 may fall short of the server's period: a request sent on the
    /// model's time then gets a 429 asking for seconds, and waits those, not another interval.
    #[tokio::test(start_paused = true)]
    async fn a_429_after_a_modelled_token_waits_only_what_the_server_asks() {
        let pacer = Pacer::new(Duration::from_secs(600), None, None);
        let mut transcript = Transcript::default();
        let mut first = queued(&pacer, Limit::Login, "/login").await;
        first.rate_limited(Duration::from_secs(329)).unwrap();
        first.wait(&mut transcript).await.unwrap();
        first.rate_limited(Duration::from_secs(4)).unwrap();
        let started = Instant::now();
        first.wait(&mut transcript).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(4));
    }

    /// A 429 on the first of a case's reserved logins: it waits until the server can take them all, and the
    /// next goes out right after it (rather than an interval later, when the first session may have expired).
    #[tokio::test(start_paused = true)]
    async fn a_429_within_a_reservation_waits_for_all_of_its_requests() {
        let pacer = Pacer::new(Duration::from_secs(600), None, None);
        let mut transcript = Transcript::default();
        let _reservation = pacer
            .reserve(Limit::Login, 2, &mut transcript)
            .await
            .unwrap();
        let started = Instant::now();
        let mut first = pacer.turn(Limit::Login, "/login", &transcript).await;
        first.rate_limited(Duration::from_secs(300)).unwrap();
        first.wait(&mut transcript).await.unwrap();
        first.answered(Duration::ZERO);
        drop(first);
        transcript.reserved_left = 1;
        assert_eq!(started.elapsed(), Duration::from_secs(600));
        let second = pacer.turn(Limit::Login, "/login", &transcript).await;
        second.wait(&mut transcript).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(600));
    }

    /// A 429 on the first of two reserved logins asks for 320 s; with the second, the wait is 640 s. Each
    /// interval is within --max-wait 10m, so the case waits (it was skipped as "asked 10m 40s" once).
    #[tokio::test(start_paused = true)]
    async fn max_wait_bounds_one_interval_of_a_reservation_not_all_of_them() {
        let pacer = Pacer::new(Duration::from_secs(600), None, None);
        let mut transcript = Transcript::default();
        let _reservation = pacer
            .reserve(Limit::Login, 2, &mut transcript)
            .await
            .unwrap();
        let started = Instant::now();
        let mut first = pacer.turn(Limit::Login, "/login", &transcript).await;
        first.rate_limited(Duration::from_secs(320)).unwrap();
        first.wait(&mut transcript).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(640));
    }

    /// A case holding a session that expires in 300 s gets a 429 asking for 320 s: it does not wait (its login
    /// would serve a case that must start again) but says so at once; a shorter wait it waits out.
    #[tokio::test(start_paused = true)]
    async fn a_turn_after_a_session_of_the_case_expires_is_not_waited_for() {
        let pacer = Pacer::new(Duration::from_secs(600), None, None);
        let mut transcript = Transcript::default();
        transcript.sessions_expire = Some(Instant::now() + Duration::from_secs(300));
        let started = Instant::now();
        let mut turn = queued(&pacer, Limit::Login, "/login").await;
        turn.rate_limited(Duration::from_secs(320)).unwrap();
        let outlives = turn.wait(&mut transcript).await;
        assert!(
            matches!(outlives, Err(HttpError::OutlivesSession { .. })),
            "{outlives:?}"
        );
        assert_eq!(started.elapsed(), Duration::ZERO);
        transcript.sessions_expire = Some(Instant::now() + Duration::from_secs(330));
        turn.wait(&mut transcript).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(320));
    }

    /// A case's logins reserved together wait until the bucket holds all of them, then go out back to back.
    #[tokio::test(start_paused = true)]
    async fn a_reservation_waits_for_enough_tokens_then_sends_them_together() {
        // Three intervals in all, but each within --max-wait: the case waits.
        let pacer = Pacer::new(Duration::from_secs(150), None, None);
        let mut transcript = Transcript::default();
        let mut first = queued(&pacer, Limit::Login, "/login").await;
        first.rate_limited(Duration::from_secs(100)).unwrap();
        drop(first);
        let started = Instant::now();
        let reservation = pacer
            .reserve(Limit::Login, 3, &mut transcript)
            .await
            .unwrap();
        assert!(reservation.is_some());
        assert_eq!(started.elapsed(), Duration::from_secs(300));
        for _ in 0..3 {
            let turn = pacer.turn(Limit::Login, "/login", &transcript).await;
            turn.wait(&mut transcript).await.unwrap();
            turn.answered(Duration::ZERO);
            transcript.reserved_left -= 1;
        }
        assert_eq!(started.elapsed(), Duration::from_secs(300));
    }

    /// Synapse's `Ratelimiter` (synapse/api/ratelimiting.py): `burst` actions, draining at one per
    /// `interval`; a refused action is told when the next one fits.
    struct SynapseBucket {
        count: f64,
        start: Instant,
        burst: f64,
        interval: Duration,
        refused: u32,
    }

    impl SynapseBucket {
        fn admit(&mut self) -> Result<(), Duration> {
            let now = Instant::now();
            let drained = (now - self.start).as_secs_f64() / self.interval.as_secs_f64();
            let performed = (self.count - drained).max(0.0);
            if performed + 1.0 <= self.burst {
                self.count = performed + 1.0;
                self.start = now;
                return Ok(());
            }
            self.refused += 1;
            let next = (performed - self.burst + 1.0) * self.interval.as_secs_f64();
            Err(Duration::from_secs_f64(next))
        }
    }

    /// One login the way `Http::send_in_turn` sends it; the time it went out.
    async fn login(
        pacer: &Pacer,
        bucket: &Mutex<SynapseBucket>,
        transcript: &mut Transcript,
    ) -> Instant {
        let mut turn = pacer.turn(Limit::Login, "/login", transcript).await;
        loop {
            turn.wait(transcript).await.unwrap();
            let admitted = bucket.lock().unwrap().admit();
            match admitted {
                Ok(()) => {
                    turn.answered(Duration::from_millis(50));
                    transcript.reserved_left = transcript.reserved_left.saturating_sub(1);
                    return Instant::now();
                }
                Err(asked) => turn.rate_limited(asked).unwrap(),
            }
        }
    }

    /// Against a stock Synapse login limiter (5, then one per 333 s): once the first 429 has taught the
    /// lane the server's pace, every later login is counted against the bucket before it is sent: no more
    /// 429s, and the two logins of each case that reserved them go out together.
    #[tokio::test(start_paused = true)]
    async fn once_learned_the_server_bucket_is_counted_before_sending() {
        let pacer = Pacer::new(Duration::from_secs(600), None, None);
        let interval = Duration::from_secs(333);
        let began = Instant::now();
        let bucket = Mutex::new(SynapseBucket {
            count: 0.0,
            start: Instant::now(),
            burst: 5.0,
            interval,
            refused: 0,
        });
        let pairs = (0..6).map(|_| async {
            let mut transcript = Transcript::default();
            let reservation = pacer
                .reserve(Limit::Login, 2, &mut transcript)
                .await
                .unwrap();
            let first = login(&pacer, &bucket, &mut transcript).await;
            let second = login(&pacer, &bucket, &mut transcript).await;
            drop(reservation);
            second - first
        });
        let singles = (0..4).map(|_| async {
            login(&pacer, &bucket, &mut Transcript::default()).await;
            Duration::ZERO
        });
        let (pairs, _) = tokio::join!(
            futures_util::future::join_all(pairs),
            futures_util::future::join_all(singles)
        );
        // The first 429 is how the lane learns the pace: there is no other way to learn it.
        assert_eq!(bucket.lock().unwrap().refused, 1);
        // At most one pair met that 429 between its logins; the others went out together.
        let apart = pairs.iter().filter(|gap| **gap >= interval).count();
        assert!(apart <= 1, "{pairs:?}");
        // 16 logins: 5 from the burst, then one per interval.
        assert!(began.elapsed() <= interval * 11, "{:?}", began.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_over_max_wait_or_past_the_budget_is_refused() {
        let pacer = Pacer::new(Duration::from_secs(60), Some(Duration::from_secs(30)), None);
        let mut turn = queued(&pacer, Limit::Registration, "/register").await;
        let over = turn.rate_limited(Duration::from_secs(61));
        assert!(
            matches!(over, Err(HttpError::RateLimited { .. })),
            "{over:?}"
        );
        drop(turn);
        let mut turn = queued(&pacer, Limit::Login, "/login").await;
        turn.rate_limited(Duration::from_secs(40)).unwrap();
        let late = turn.wait(&mut Transcript::default()).await;
        assert!(
            matches!(late, Err(HttpError::WaitBudget { .. })),
            "{late:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limited_lane_sends_one_request_at_a_time() {
        let pacer = Pacer::new(Duration::from_secs(60), None, None);
        let mut a = queued(&pacer, Limit::Login, "/login").await;
        let b = queued(&pacer, Limit::Login, "/login").await;
        a.rate_limited(Duration::from_secs(1)).unwrap();
        drop(a);
        drop(b);
        let _one = queued(&pacer, Limit::Login, "/login").await;
        let two = tokio::time::timeout(
            Duration::from_secs(1),
            queued(&pacer, Limit::Login, "/login"),
        )
        .await;
        assert!(
            two.is_err(),
            "a second request got a place beside the first"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn endpoints_get_a_lane_only_after_a_429_and_slow_answers_stretch_timeouts() {
        let pacer = Pacer::new(Duration::from_secs(60), None, None);
        let mut turn = queued(&pacer, Limit::Endpoint, "/refresh").await;
        assert!(turn.lane.is_none());
        turn.rate_limited(Duration::from_secs(1)).unwrap();
        turn.answered(Duration::from_secs(4));
        assert_eq!(
            turn.timeout(Duration::from_secs(10)),
            Duration::from_secs(16)
        );
        drop(turn);
        assert!(
            queued(&pacer, Limit::Endpoint, "/refresh")
                .await
                .lane
                .is_some()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_in_a_crowded_lane_halves_it() {
        let pacer = Pacer::new(Duration::from_secs(60), None, None);
        let a = queued(&pacer, Limit::Registration, "/register").await;
        let b = queued(&pacer, Limit::Registration, "/register").await;
        a.timed_out();
        drop(a);
        drop(b);
        let _one = queued(&pacer, Limit::Registration, "/register").await;
        let two = tokio::time::timeout(
            Duration::from_secs(1),
            queued(&pacer, Limit::Registration, "/register"),
        )
        .await;
        assert!(two.is_err());
        assert_eq!(pacer.stats()[&Limit::Registration].crowded_timeouts, 1);
    }
}
