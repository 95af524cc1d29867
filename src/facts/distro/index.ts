/**
 * Host → DistroSpec. The only place that looks at os-release IDs.
 *
 * Matching: the host's own ID first; then ID_LIKE (closest relative first), using PLATFORM_ID to
 * tell EL rebuilds, Fedora and Amazon Linux apart (they all say ID_LIKE=fedora). Version floors
 * are enforced for the distros we name, not for derivatives (whose VERSION_ID is their own).
 *
 * Not supported, on purpose: EL7 / Amazon Linux 2 (end of life, yum-only; `yum` stays in the
 * PackageManager type so a future spec can add it), SUSE, Arch, Alpine and anything else.
 */
import { UnsupportedHostError } from '../../text/errors.js';
import type { OsRelease } from '../os-release.js';
import { debianSpec } from './debian.js';
import { rhelSpec, type RhelVariant } from './rhel.js';
import type { DistroSpec } from './types.js';

export type * from './types.js';
export { detectServiceUser, type ServiceUser } from './service-user.js';

/** For messages and docs. */
export const SUPPORTED_DISTROS: readonly string[] = [
  'Debian 11+',
  'Ubuntu 20.04+',
  'RHEL 8+',
  'Rocky Linux 8+',
  'AlmaLinux 8+',
  'CentOS Stream 8+',
  'Fedora',
  'Amazon Linux 2023',
];

const DEBIAN_MIN: Record<string, number> = { debian: 11, ubuntu: 20 };
const EL_IDS = new Set(['rhel', 'rocky', 'almalinux', 'centos']);
const EL_MIN = 8;

export function resolveDistro(os: OsRelease): DistroSpec {
  const id = os.id;

  // 1. The host's own ID.
  if (id in DEBIAN_MIN) {
    checkFloor(os, DEBIAN_MIN[id] as number);
    return debianSpec(os, { name: id });
  }
  if (EL_IDS.has(id)) {
    const major = majorOf(os.versionId);
    checkFloor(os, EL_MIN);
    return rhelSpec(os, { name: id, variant: 'el', majorVersion: major });
  }
  if (id === 'fedora') {
    return rhelSpec(os, { name: id, variant: 'fedora', majorVersion: majorOf(os.versionId) });
  }
  if (id === 'amzn') {
    if (os.versionId !== '2023') {
      throw unsupported(os, 'only Amazon Linux 2023 is supported (Amazon Linux 2 is yum-only and near end of life)');
    }
    return rhelSpec(os, { name: id, variant: 'amzn', majorVersion: 2023 });
  }

  // 2. A relative named in ID_LIKE.
  for (const like of os.idLike) {
    if (like === 'ubuntu' || like === 'debian') {
      return debianSpec(os, { name: id, derivedFrom: like });
    }
    if (like === 'rhel' || like === 'centos' || like === 'fedora') {
      const rh = rhelFromPlatform(os, like);
      if (rh.variant === 'el' && !Number.isNaN(rh.major) && rh.major < EL_MIN) {
        throw unsupported(os, `it is EL${rh.major}; EL ${EL_MIN} and later are supported`);
      }
      return rhelSpec(os, { name: id, variant: rh.variant, majorVersion: rh.major, derivedFrom: like });
    }
  }

  throw unsupported(os);
}

/** PLATFORM_ID (`platform:el9`, `platform:f40`, `platform:al2023`) says which base a Fedora-like host has. */
function rhelFromPlatform(os: OsRelease, like: string): { variant: RhelVariant; major: number } {
  const platform = os.raw.PLATFORM_ID ?? '';
  let m = /^platform:el(\d+)/.exec(platform);
  if (m) return { variant: 'el', major: Number(m[1]) };
  m = /^platform:f(\d+)/.exec(platform);
  if (m) return { variant: 'fedora', major: Number(m[1]) };
  if (/^platform:al2023/.test(platform)) return { variant: 'amzn', major: 2023 };
  return { variant: like === 'fedora' ? 'fedora' : 'el', major: majorOf(os.versionId) };
}

function majorOf(versionId: string): number {
  return Number.parseInt(versionId, 10);
}

function checkFloor(os: OsRelease, min: number): void {
  const major = majorOf(os.versionId);
  // No VERSION_ID (Debian testing/sid): newer than any floor.
  if (!Number.isNaN(major) && major < min) {
    throw unsupported(os, `version ${os.versionId} is older than the oldest supported (${min})`);
  }
}

function unsupported(os: OsRelease, why?: string): UnsupportedHostError {
  const like = os.idLike.length > 0 ? `, ID_LIKE=${os.idLike.join(' ')}` : '';
  const detected = `${os.prettyName} (ID=${os.id}${like}${os.versionId ? `, VERSION_ID=${os.versionId}` : ''})`;
  return new UnsupportedHostError(
    `unsupported host: ${detected}${why ? `: ${why}` : ''}. Supported: ${SUPPORTED_DISTROS.join(', ')}, ` +
      'and derivatives that declare one of them in ID_LIKE.',
  );
}
