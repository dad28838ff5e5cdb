//! [`Collective`] over MPI (Open MPI, MPICH) through the `mpi` crate: the
//! processes `mpirun -np N` starts, on one machine or many.

use super::Collective;
use crate::{Error, Result};
use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::topology::{Communicator, SimpleCommunicator};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to do when a collective waits past the timeout (a rank died or
/// hangs): given one line saying so; the process then exits with status 1.
pub type OnHang = Box<dyn Fn(&str) + Send>;

/// The world communicator of an MPI job, as a [`Collective`]. Initializes MPI
/// when made and finalizes it when dropped (once per process).
///
/// Every collective is watched: one that waits longer than the timeout
/// (another rank died, or hangs) calls the `on_hang` callback and exits the
/// process with status 1, since a blocked MPI call cannot be cancelled.
/// `mpirun` itself stops the job when a rank exits with an error or is
/// killed; the watchdog covers launchers and failures that do not.
///
/// ```no_run
/// use backprop::dist::{Collective, Mpi};
/// let mpi = Mpi::init(std::time::Duration::from_secs(60), Box::new(|e| eprintln!("error: {e}"))).unwrap();
/// let mut buf = vec![1.0f32];
/// mpi.all_reduce_sum(&mut buf); // = the number of ranks
/// ```
pub struct Mpi {
    world: SimpleCommunicator,
    /// Milliseconds since `epoch` when the current collective began; 0 when none runs.
    busy_since: Arc<AtomicU64>,
    epoch: Instant,
    // Dropped last: finalizes MPI.
    _universe: mpi::environment::Universe,
}

impl Mpi {
    /// Initializes MPI (a process started without `mpirun` is a job of one
    /// rank) and starts the watchdog of the collectives.
    ///
    /// # Errors
    /// When MPI was initialized before in this process.
    pub fn init(timeout: Duration, on_hang: OnHang) -> Result<Mpi> {
        let universe =
            mpi::initialize().ok_or_else(|| Error::invalid("mpi", "MPI is already initialized in this process"))?;
        let world = universe.world();
        let busy_since = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let rank = world.rank();
        let size = world.size();
        let watched = busy_since.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(200));
            let since = watched.load(Ordering::Acquire);
            let now = epoch.elapsed().as_millis() as u64;
            if since != 0 && now.saturating_sub(since) > timeout.as_millis() as u64 {
                on_hang(&format!(
                    "rank {rank} of {size} waited more than {} s for the other ranks in a collective \
                     operation: one of them died or hangs",
                    timeout.as_secs_f32()
                ));
                std::process::exit(1);
            }
        });
        Ok(Mpi { world, busy_since, epoch, _universe: universe })
    }

    /// Runs `f` (a collective) under the watchdog.
    fn watched<T>(&self, f: impl FnOnce() -> T) -> T {
        let now = (self.epoch.elapsed().as_millis() as u64).max(1);
        self.busy_since.store(now, Ordering::Release);
        let out = f();
        self.busy_since.store(0, Ordering::Release);
        out
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_reduce_sum(&self, buf: &mut [f32]) {
        let send = buf.to_vec();
        self.watched(|| self.world.all_reduce_into(&send[..], buf, SystemOperation::sum()));
    }

    fn all_reduce_sum_f64(&self, buf: &mut [f64]) {
        let send = buf.to_vec();
        self.watched(|| self.world.all_reduce_into(&send[..], buf, SystemOperation::sum()));
    }

    fn broadcast(&self, buf: &mut [f32], root: usize) {
        self.watched(|| self.world.process_at_rank(root as i32).broadcast_into(buf));
    }
}
