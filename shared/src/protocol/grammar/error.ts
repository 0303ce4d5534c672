import { bool, enumOf, i32, option, str, struct, tuple, u16, u32, u64, unit, type Codec } from '../codec.js';
import { httpFilter, socketAddress, stealType } from './base.js';

/** `protocol/src/error.rs`: the `ResponseError` tree. Variant order is the wire tag. */

const errorKinds = [
  'NotFound',
  'PermissionDenied',
  'ConnectionRefused',
  'ConnectionReset',
  'HostUnreachable',
  'NetworkUnreachable',
  'ConnectionAborted',
  'NotConnected',
  'AddrInUse',
  'AddrNotAvailable',
  'NetworkDown',
  'BrokenPipe',
  'AlreadyExists',
  'WouldBlock',
  'NotADirectory',
  'IsADirectory',
  'DirectoryNotEmpty',
  'ReadOnlyFilesystem',
  'FilesystemLoop',
  'StaleNetworkFileHandle',
  'InvalidInput',
  'InvalidData',
  'TimedOut',
  'WriteZero',
  'StorageFull',
  'NotSeekable',
  'FilesystemQuotaExceeded',
  'FileTooLarge',
  'ResourceBusy',
  'ExecutableFileBusy',
  'Deadlock',
  'CrossesDevices',
  'TooManyLinks',
  'InvalidFilename',
  'ArgumentListTooLong',
  'Interrupted',
  'Unsupported',
  'UnexpectedEof',
  'OutOfMemory',
  'Other',
] as const;

/** `ErrorKindInternal`: 40 unit kinds, then `Unknown(String)`. */
export const errorKindInternal = enumOf('ErrorKindInternal', {
  ...(Object.fromEntries(errorKinds.map((k) => [k, unit])) as Record<(typeof errorKinds)[number], typeof unit>),
  Unknown: str,
});

const resolveErrorKind = enumOf('ResolveErrorKindInternal', {
  Message: str,
  NoConnections: unit,
  NoRecordsFound: u16,
  Proto: unit,
  Timeout: unit,
  Unknown: unit,
  NotFound: unit,
  PermissionDenied: unit,
});

const remoteError = enumOf('RemoteError', {
  NameserverNotFound: unit,
  AddressParsing: str,
  InvalidAddress: socketAddress,
  ConnectTimedOut: socketAddress,
  BadHttpFilterRegex: tuple(str, str),
  BadHttpFilterExRegex: tuple(httpFilter, str),
});

export const blockedAction = enumOf('BlockedAction', {
  Steal: stealType,
  Mirror: u16,
  OutgoingTcp: socketAddress,
  OutgoingUdp: socketAddress,
});

export const responseError = enumOf('ResponseError', {
  IdsExhausted: str,
  NotFound: u64,
  NotDirectory: u64,
  NotFile: u64,
  RemoteIO: struct('RemoteIOError', { raw_os_error: option(i32), kind: errorKindInternal }),
  DnsLookup: struct('DnsLookupError', { kind: resolveErrorKind }),
  Remote: remoteError,
  PortAlreadyStolen: u16,
  NotImplemented: unit,
  Forbidden: struct('Forbidden', { blocked_action: blockedAction, policy_name: option(str) }),
  StripPrefix: str,
  OpenLocal: unit,
  ForbiddenWithReason: struct('ForbiddenWithReason', {
    blocked_action: blockedAction,
    policy_name: option(str),
    reason: str,
  }),
  SystemFailure: struct('SystemFailure', { can_retry: bool, code: u32, message: str }),
});

/** `RemoteResult<T>` = `Result<T, ResponseError>`. */
export const remoteResult = <T>(ok: Codec<T>) => enumOf('Result', { Ok: ok, Err: responseError });
