import { array, bool, bytes, enumOf, i32, i64, option, str, struct, u32, u64, u8, unit, vec } from '../codec.js';
import { remoteResult } from './error.js';

/** `protocol/src/file.rs`: remote file operations. Variant order is the wire tag. */

const openOptions = struct('OpenOptionsInternal', {
  read: bool,
  write: bool,
  append: bool,
  truncate: bool,
  create: bool,
  create_new: bool,
});
const fd = struct('Fd', { fd: u64 });
const remoteFd = struct('RemoteFd', { remote_fd: u64 });
const path = struct('Path', { path: str });
const pathname = struct('Pathname', { pathname: str });
const timespec = struct('Timespec', { tv_sec: i64, tv_nsec: i64 });

export const fileRequest = enumOf('FileRequest', {
  Open: struct('OpenFileRequest', { path: str, open_options: openOptions }),
  OpenRelative: struct('OpenRelativeFileRequest', { relative_fd: u64, path: str, open_options: openOptions }),
  Read: struct('ReadFileRequest', { remote_fd: u64, buffer_size: u64 }),
  ReadLimited: struct('ReadLimitedFileRequest', { remote_fd: u64, buffer_size: u64, start_from: u64 }),
  Seek: struct('SeekFileRequest', {
    fd: u64,
    seek_from: enumOf('SeekFromInternal', { Start: u64, End: i64, Current: i64 }),
  }),
  Write: struct('WriteFileRequest', { fd: u64, write_bytes: bytes }),
  WriteLimited: struct('WriteLimitedFileRequest', { remote_fd: u64, start_from: u64, write_bytes: bytes }),
  Close: fd,
  Access: struct('AccessFileRequest', { pathname: str, mode: u8 }),
  Xstat: struct('XstatRequest', { path: option(str), fd: option(u64), follow_symlink: bool }),
  XstatFs: fd,
  FdOpenDir: remoteFd,
  ReadDir: remoteFd,
  CloseDir: remoteFd,
  GetDEnts64: struct('GetDEnts64Request', { remote_fd: u64, buffer_size: u64 }),
  ReadLink: path,
  ReadDirBatch: struct('ReadDirBatchRequest', { remote_fd: u64, amount: u64 }),
  MakeDir: struct('MakeDirRequest', { pathname: str, mode: u32 }),
  MakeDirAt: struct('MakeDirAtRequest', { dirfd: u64, pathname: str, mode: u32 }),
  RemoveDir: pathname,
  Unlink: pathname,
  UnlinkAt: struct('UnlinkAtRequest', { dirfd: option(u64), pathname: str, flags: u32 }),
  StatFs: path,
  XstatFsV2: fd,
  StatFsV2: path,
  Rename: struct('RenameRequest', { old_path: str, new_path: str }),
  Ftruncate: struct('FtruncateRequest', { fd: u64, length: i64 }),
  Futimens: struct('FutimensRequest', { fd: u64, times: option(array(timespec, 2)) }),
  Fchown: struct('FchownRequest', { fd: u64, owner: u32, group: u32 }),
  Fchmod: struct('FchmodRequest', { fd: u64, mode: u32 }),
});

const metadata = struct('MetadataInternal', {
  device_id: u64,
  inode: u64,
  mode: u32,
  hard_links: u64,
  user_id: u32,
  group_id: u32,
  rdevice_id: u64,
  size: u64,
  access_time: i64,
  modification_time: i64,
  creation_time: i64,
  block_size: u64,
  blocks: u64,
});
const fsFields = {
  filesystem_type: i64,
  block_size: i64,
  blocks: u64,
  blocks_free: u64,
  blocks_available: u64,
  files: u64,
  files_free: u64,
};
const fsMetadata = struct('FsMetadataInternal', fsFields);
const fsMetadataV2 = struct('FsMetadataInternalV2', {
  ...fsFields,
  filesystem_id: array(i32, 2),
  name_len: i64,
  fragment_size: i64,
  flags: i64,
});
const dirEntry = struct('DirEntryInternal', { inode: u64, position: u64, name: str, file_type: u8 });
const read = remoteResult(struct('ReadFileResponse', { bytes, read_amount: u64 }));
const written = remoteResult(struct('WriteFileResponse', { written_amount: u64 }));
const done = remoteResult(unit);

export const fileResponse = enumOf('FileResponse', {
  Open: remoteResult(fd),
  Read: read,
  ReadLimited: read,
  Write: written,
  WriteLimited: written,
  Seek: remoteResult(struct('SeekFileResponse', { result_offset: u64 })),
  Access: remoteResult(unit),
  Xstat: remoteResult(struct('XstatResponse', { metadata })),
  XstatFs: remoteResult(struct('XstatFsResponse', { metadata: fsMetadata })),
  ReadDir: remoteResult(struct('ReadDirResponse', { direntry: option(dirEntry) })),
  OpenDir: remoteResult(fd),
  GetDEnts64: remoteResult(struct('GetDEnts64Response', { fd: u64, entries: vec(dirEntry), result_size: u64 })),
  ReadLink: remoteResult(path),
  ReadDirBatch: remoteResult(struct('ReadDirBatchResponse', { fd: u64, dir_entries: vec(dirEntry) })),
  MakeDir: done,
  RemoveDir: done,
  Unlink: done,
  XstatFsV2: remoteResult(struct('XstatFsResponseV2', { metadata: fsMetadataV2 })),
  Rename: done,
  Ftruncate: done,
  Futimens: done,
  Fchown: done,
  Fchmod: done,
});
