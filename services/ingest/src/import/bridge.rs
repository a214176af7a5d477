//! A blocking reader over chunks arriving from an async upload, so the same streaming
//! parsers serve a file on disk and a request body.

use std::io::{self, Read};

use actix_web::web::Bytes;
use tokio::sync::mpsc::Receiver;

pub(crate) struct ChannelReader {
    chunks: Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ChannelReader {
    pub(crate) fn new(chunks: Receiver<io::Result<Bytes>>) -> Self {
        Self {
            chunks,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Gunzips a reader, but only once it is first read: creating a gzip decoder reads the
/// header at once, which must happen on the blocking parser thread, not in the handler.
pub(crate) struct LazyGunzip<R: Read> {
    pending: Option<R>,
    decoder: Option<flate2::read::MultiGzDecoder<R>>,
}

impl<R: Read> LazyGunzip<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            pending: Some(inner),
            decoder: None,
        }
    }
}

impl<R: Read> Read for LazyGunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(inner) = self.pending.take() {
            self.decoder = Some(flate2::read::MultiGzDecoder::new(inner));
        }
        match &mut self.decoder {
            Some(decoder) => decoder.read(buf),
            None => Ok(0),
        }
    }
}
