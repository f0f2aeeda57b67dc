//! Pointer and length checks at the C boundary, and the PKCS#11 output-buffer convention.
//!
//! Every helper checks before it touches memory: a NULL pointer where one is required, or a
//! NULL buffer with a non-zero length, is `CKR_ARGUMENTS_BAD`.

use crate::guard::{Error, FfiResult};
use crate::types::{CK_BYTE, CK_ULONG};

/// Converts a `CK_ULONG` length to `usize`.
pub(crate) fn len(value: CK_ULONG) -> FfiResult<usize> {
    Ok(usize::try_from(value)?)
}

/// A copy of a caller's buffer, `CKR_HOST_MEMORY` if it cannot be allocated (an infallible
/// allocation of a caller's length would abort the process).
pub(crate) fn copy(bytes: &[u8]) -> FfiResult<Vec<u8>> {
    let mut out = Vec::new();
    out.try_reserve_exact(bytes.len())
        .map_err(|_| Error::Code(cpv4_wire::consts::CKR_HOST_MEMORY))?;
    out.extend_from_slice(bytes);
    Ok(out)
}

/// Converts a `usize` length to `CK_ULONG`.
pub(crate) fn ulong(value: usize) -> FfiResult<CK_ULONG> {
    Ok(CK_ULONG::try_from(value)?)
}

/// A non-NULL pointer must be aligned for `T`: Rust references and slices require it, and
/// the standard library's check of it would abort the process rather than unwind.
fn aligned<T>(ptr: *const T) -> FfiResult<()> {
    if ptr.is_null() || ptr.is_aligned() {
        Ok(())
    } else {
        Err(Error::ArgumentsBad)
    }
}

/// A memory region of a call's arguments: its address and length in bytes.
pub(crate) type Region = (usize, usize);

/// The region of `count` elements at `ptr` (empty for NULL).
pub(crate) fn region<T>(ptr: *const T, count: usize) -> Region {
    if ptr.is_null() {
        (0, 0)
    } else {
        (ptr as usize, count.saturating_mul(size_of::<T>()))
    }
}

/// Checks that no region the call writes overlaps another region of the call (written or
/// read): the call holds Rust references to all of them at once, and overlapping ones would
/// alias. Empty regions are ignored. `CKR_ARGUMENTS_BAD` otherwise.
pub(crate) fn disjoint(written: &[Region], read: &[Region]) -> FfiResult<()> {
    let overlap = |a: &Region, b: &Region| {
        a.1 != 0 && b.1 != 0 && a.0 < b.0.saturating_add(b.1) && b.0 < a.0.saturating_add(a.1)
    };
    let mut sorted: Vec<Region> = written.iter().copied().filter(|r| r.1 != 0).collect();
    sorted.sort_unstable();
    if sorted
        .windows(2)
        .any(|pair| matches!(pair, [a, b] if overlap(a, b)))
    {
        return Err(Error::ArgumentsBad);
    }
    if written.iter().any(|w| read.iter().any(|r| overlap(w, r))) {
        return Err(Error::ArgumentsBad);
    }
    Ok(())
}

/// The value at a length location, read before any reference to it is made (0 for NULL).
///
/// # Safety
///
/// A non-NULL `ptr` must be valid for reads of a `CK_ULONG`.
pub(crate) unsafe fn peek_len(ptr: *const CK_ULONG) -> FfiResult<usize> {
    if ptr.is_null() {
        return Ok(0);
    }
    aligned(ptr)?;
    // SAFETY: non-NULL, aligned (checked) and readable (this function's contract).
    len(unsafe { ptr.read() })
}

/// The length in elements of a caller's count, saturated for regions (the slices themselves
/// refuse what cannot be memory).
pub(crate) fn count(value: CK_ULONG) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// A count of `T`s that can be one slice: no more than `isize::MAX` bytes in all (a larger
/// count cannot describe memory the caller owns, and would be undefined behaviour to slice).
fn element_count<T>(count: CK_ULONG) -> FfiResult<usize> {
    let count = len(count)?;
    match count.checked_mul(size_of::<T>().max(1)) {
        Some(bytes) if isize::try_from(bytes).is_ok() => Ok(count),
        _ => Err(Error::ArgumentsBad),
    }
}

/// An input slice: `(NULL, 0)` is empty; `(NULL, n > 0)` is `CKR_ARGUMENTS_BAD`.
///
/// # Safety
///
/// A non-NULL `ptr` must be valid for reads of `count` elements for `'a`.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, count: CK_ULONG) -> FfiResult<&'a [T]> {
    let count = element_count::<T>(count)?;
    aligned(ptr)?;
    if ptr.is_null() {
        return if count == 0 {
            Ok(&[])
        } else {
            Err(Error::ArgumentsBad)
        };
    }
    // SAFETY: the caller guarantees `count` readable elements at the non-NULL `ptr`.
    Ok(unsafe { std::slice::from_raw_parts(ptr, count) })
}

/// A mutable slice: `(NULL, 0)` is empty; `(NULL, n > 0)` is `CKR_ARGUMENTS_BAD`.
///
/// # Safety
///
/// A non-NULL `ptr` must be valid for reads and writes of `count` elements for `'a`.
pub(crate) unsafe fn slice_mut<'a, T>(ptr: *mut T, count: CK_ULONG) -> FfiResult<&'a mut [T]> {
    let count = element_count::<T>(count)?;
    aligned(ptr.cast_const())?;
    if ptr.is_null() {
        return if count == 0 {
            Ok(&mut [])
        } else {
            Err(Error::ArgumentsBad)
        };
    }
    // SAFETY: the caller guarantees `count` readable and writable elements at `ptr`.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, count) })
}

/// A required output location.
///
/// # Safety
///
/// A non-NULL `ptr` must be valid for writes of a `T` for `'a`.
pub(crate) unsafe fn out<'a, T>(ptr: *mut T) -> FfiResult<&'a mut T> {
    aligned(ptr.cast_const())?;
    // SAFETY: the caller guarantees that a non-NULL `ptr` is valid and writable.
    unsafe { ptr.as_mut() }.ok_or(Error::ArgumentsBad)
}

/// A required input location.
///
/// # Safety
///
/// A non-NULL `ptr` must be valid for reads of a `T` for `'a`.
pub(crate) unsafe fn input<'a, T>(ptr: *const T) -> FfiResult<&'a T> {
    aligned(ptr)?;
    // SAFETY: the caller guarantees that a non-NULL `ptr` is valid and readable.
    unsafe { ptr.as_ref() }.ok_or(Error::ArgumentsBad)
}

/// An output buffer in the PKCS#11 convention: the buffer (NULL for a length query) and the
/// length location (in: capacity; out: length written or needed).
pub(crate) struct OutBuf<'a, T> {
    buffer: *mut T,
    length: &'a mut CK_ULONG,
}

impl<'a, T: Copy> OutBuf<'a, T> {
    /// Checks the length pointer (required).
    ///
    /// # Safety
    ///
    /// A non-NULL `length` must be valid for reads and writes; a non-NULL `buffer` must be
    /// valid for writes of `*length` elements, for `'a`.
    pub(crate) unsafe fn new(buffer: *mut T, length: *mut CK_ULONG) -> FfiResult<Self> {
        aligned(buffer.cast_const())?;
        // SAFETY: forwarded from this function's contract.
        let length = unsafe { out(length) }?;
        Ok(Self { buffer, length })
    }

    /// Whether this is a length query (NULL buffer).
    pub(crate) fn is_query(&self) -> bool {
        self.buffer.is_null()
    }

    /// The buffer's capacity (0 for a length query).
    pub(crate) fn capacity(&self) -> FfiResult<usize> {
        if self.is_query() {
            Ok(0)
        } else {
            len(*self.length)
        }
    }

    /// Reports `needed` without writing data: `CKR_OK` for a length query, else
    /// `CKR_BUFFER_TOO_SMALL` if it does not fit, else `Ok(false)` ("go on and write").
    pub(crate) fn answer_length(&mut self, needed: usize) -> FfiResult<bool> {
        if self.is_query() {
            *self.length = ulong(needed)?;
            return Ok(true);
        }
        if self.capacity()? < needed {
            *self.length = ulong(needed)?;
            return Err(Error::BufferTooSmall);
        }
        Ok(false)
    }

    /// Writes `data` (or answers a length query / a short buffer with its length).
    pub(crate) fn write(&mut self, data: &[T]) -> FfiResult<()> {
        if self.answer_length(data.len())? {
            return Ok(());
        }
        // SAFETY: `buffer` is non-NULL (not a query) and writable for `*length` elements
        // (contract of `new`), and `data.len() <= *length` was checked above.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.buffer, data.len()) };
        *self.length = ulong(data.len())?;
        Ok(())
    }
}

/// Copies `text` into a blank-padded fixed-size field, cut at a character boundary.
pub(crate) fn pad<const N: usize>(text: &str) -> [CK_BYTE; N] {
    let mut field = [b' '; N];
    let mut end = text.len().min(N);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if let (Some(dst), Some(src)) = (field.get_mut(..end), text.as_bytes().get(..end)) {
        dst.copy_from_slice(src);
    }
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_fills_with_blanks_and_cuts_at_a_character_boundary() {
        assert_eq!(&pad::<4>("ab"), b"ab  ");
        assert_eq!(&pad::<3>("abcd"), b"abc");
        // "é" is two bytes: it does not fit in the last byte, so a blank stays there.
        assert_eq!(&pad::<3>("abé"), b"ab ");
    }

    #[test]
    fn a_null_buffer_is_a_length_query_and_a_short_one_gets_the_needed_length() {
        let mut len: CK_ULONG = 0;
        // SAFETY: `len` is a live local; the buffer is NULL.
        let mut query = unsafe { OutBuf::<u8>::new(std::ptr::null_mut(), &mut len) }
            .unwrap_or_else(|_| unreachable!());
        assert!(query.write(b"hello").is_ok());
        assert_eq!(len, 5);
        let mut short = [0u8; 2];
        let mut len: CK_ULONG = 2;
        // SAFETY: `short` has `len` writable bytes.
        let mut out =
            unsafe { OutBuf::new(short.as_mut_ptr(), &mut len) }.unwrap_or_else(|_| unreachable!());
        assert!(matches!(out.write(b"hello"), Err(Error::BufferTooSmall)));
        assert_eq!(len, 5);
        assert_eq!(short, [0, 0]);
    }
}
