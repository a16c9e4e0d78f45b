//! Wakes JavaScript when the UDP socket is readable. The thread only waits (poll(2) on the
//! socket and a stop pipe) and calls one threadsafe function; every QUIC packet is read and
//! processed on the JavaScript thread by `NativeEndpoint.poll()`, so the connections need no
//! lock. After one wake-up the thread waits until `poll()` re-arms it (having read the socket
//! empty), so JavaScript gets at most one pending wake-up per endpoint, however many packets
//! arrive: the events of all of them cross in one batch.

use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

pub type WakeFn = ThreadsafeFunction<u32, (), u32, Status, false>;

struct Shared {
    armed: Mutex<bool>,
    cv: Condvar,
    stop: AtomicBool,
}

pub struct Waker {
    shared: Arc<Shared>,
    pipe_write: RawFd,
    pipe_read: RawFd,
    thread: Option<JoinHandle<()>>,
}

impl Waker {
    pub fn start(socket: RawFd, wake: WakeFn) -> std::io::Result<Waker> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: fds has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let shared = Arc::new(Shared {
            armed: Mutex::new(true),
            cv: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let thread_shared = shared.clone();
        let pipe_read = fds[0];
        let thread = std::thread::Builder::new()
            .name("odin-quic-waker".into())
            .spawn(move || wait_loop(socket, pipe_read, &thread_shared, wake))?;
        Ok(Waker {
            shared,
            pipe_write: fds[1],
            pipe_read,
            thread: Some(thread),
        })
    }

    /// Called by `poll()` once the socket has been read until it would block.
    pub fn rearm(&self) {
        let mut armed = self.shared.armed.lock().unwrap_or_else(|e| e.into_inner());
        if !*armed {
            *armed = true;
            self.shared.cv.notify_one();
        }
    }

    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // SAFETY: writes one byte from a live buffer to our own pipe.
        unsafe { libc::write(self.pipe_write, [1u8].as_ptr().cast(), 1) };
        self.shared.cv.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // SAFETY: both descriptors are ours and the thread that used them has ended.
        unsafe {
            libc::close(self.pipe_write);
            libc::close(self.pipe_read);
        }
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop();
        }
    }
}

fn wait_loop(socket: RawFd, pipe_read: RawFd, shared: &Shared, wake: WakeFn) {
    loop {
        {
            let mut armed = shared.armed.lock().unwrap_or_else(|e| e.into_inner());
            while !*armed && !shared.stop.load(Ordering::SeqCst) {
                armed = shared.cv.wait(armed).unwrap_or_else(|e| e.into_inner());
            }
        }
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let mut fds = [
            libc::pollfd {
                fd: socket,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pipe_read,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is a live array of two pollfd.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if ready > 0 && fds[0].revents != 0 {
            *shared.armed.lock().unwrap_or_else(|e| e.into_inner()) = false;
            wake.call(0, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}
