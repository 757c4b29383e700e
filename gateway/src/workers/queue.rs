//! The registration job queue. New requests are admitted only while fewer than `capacity`
//! jobs wait (beyond that the route answers 503); jobs that were already acknowledged — the
//! backlog replayed from the store at start-up, and `--worker-urls` — are always queued, so
//! no backlog can stop the gateway from starting. The queue bounds waiting jobs, not memory
//! of the replay: a replayed job is one stored record, already read into memory by the
//! restore. How many jobs *run* at once is bounded by the dispatcher, whatever their origin.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

/// The sending side: admission-checked for new jobs, unconditional for replays.
pub struct JobQueue<T> {
    tx: mpsc::UnboundedSender<T>,
    waiting: Arc<AtomicUsize>,
    capacity: usize,
}

/// The dispatcher's side.
pub struct JobReceiver<T> {
    rx: mpsc::UnboundedReceiver<T>,
    waiting: Arc<AtomicUsize>,
}

/// Why a job was not queued; the job comes back to the caller.
#[derive(Debug)]
pub enum Refused<T> {
    /// `waiting` jobs are queued, at least the capacity.
    Full { job: T, waiting: usize },
    /// The dispatcher is gone (the gateway is shutting down).
    Closed(T),
}

impl<T> JobQueue<T> {
    pub fn new(capacity: usize) -> (Self, JobReceiver<T>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        let queue = Self {
            tx,
            waiting: waiting.clone(),
            capacity: capacity.max(1),
        };
        (queue, JobReceiver { rx, waiting })
    }

    /// Queue a new job unless `capacity` jobs are already waiting.
    pub fn try_push(&self, job: T) -> Result<(), Refused<T>> {
        let admitted = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            });
        if let Err(waiting) = admitted {
            return Err(Refused::Full { job, waiting });
        }
        self.send(job)
    }

    /// Queue a job that was acknowledged before (a start-up replay): never refused for
    /// capacity, so it may push the waiting count past it, which new jobs then wait out.
    pub fn push_acknowledged(&self, job: T) -> Result<(), Refused<T>> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        self.send(job)
    }

    fn send(&self, job: T) -> Result<(), Refused<T>> {
        self.tx.send(job).map_err(|e| {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            Refused::Closed(e.0)
        })
    }

    /// Jobs queued and not yet picked up.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<T> JobReceiver<T> {
    /// The next job, oldest first; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<T> {
        let job = self.rx.recv().await?;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        Some(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replays_pass_the_capacity_and_new_jobs_wait_until_it_drains() {
        let (queue, mut rx) = JobQueue::new(2);
        for i in 0..5 {
            queue.push_acknowledged(i).unwrap();
        }
        assert_eq!(queue.waiting(), 5);
        match queue.try_push(99) {
            Err(Refused::Full {
                job: 99,
                waiting: 5,
            }) => {}
            other => panic!("expected Full, got {other:?}"),
        }
        for want in 0..4 {
            assert_eq!(rx.recv().await, Some(want));
        }
        // One replay left: below the capacity, so a new job is admitted behind it.
        queue.try_push(7).unwrap();
        assert!(matches!(
            queue.try_push(8),
            Err(Refused::Full { waiting: 2, .. })
        ));
        assert_eq!(rx.recv().await, Some(4));
        assert_eq!(rx.recv().await, Some(7));
        assert_eq!(queue.waiting(), 0);
    }

    #[tokio::test]
    async fn a_closed_queue_gives_the_job_back_and_counts_nothing() {
        let (queue, rx) = JobQueue::new(1);
        drop(rx);
        assert!(matches!(queue.try_push(1), Err(Refused::Closed(1))));
        assert!(matches!(
            queue.push_acknowledged(2),
            Err(Refused::Closed(2))
        ));
        assert_eq!(queue.waiting(), 0);
    }
}
