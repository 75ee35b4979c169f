/** The fuzz targets by name, without loading them (the parent process only spawns children). */
export const TARGET_NAMES = [
  'snp-report',
  'snp-evidence',
  'pe',
  'verity-superblock',
  'krun-footer',
  'initdata',
  'jcs',
  'config-toml',
  'rego',
  'json-patch',
  'ovmf',
  'tee-pubkey',
  'x5c',
  'server',
  'server-compat',
];
