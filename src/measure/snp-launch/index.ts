/** SEV / SEV-ES / SEV-SNP launch digests from firmware, kernel, initrd and command line (specs/snp.md §4). */
export { snpLaunchDigest, snpOvmfHash, sevLaunchDigest, sevEsLaunchDigest, svsmLaunchDigest, measureMetadataPages } from './digest.js';
export type { SnpLaunchOptions, SevOptions, SevEsOptions, SvsmOptions, VmsaHook } from './digest.js';
export { LaunchDigest, PageType, PAGE_TYPE_NAMES, VMSA_GPA, type PageUpdate, type PageHook } from './gctx.js';
export { parseOvmf, SectionType, sevEsResetEip, sevHashesTableGpa, type OvmfImage, type SevMetadataSection } from './ovmf.js';
export { sevHashesTable, sevHashesPage, cmdlineBytes, type KernelInputs } from './sev-hashes.js';
export { buildVmsa, buildSvsmVmsa, vmsaPage, vmsaPages, BSP_EIP, VMM_TYPES, type VmmType, type SaveArea, type Segment } from './vmsa.js';
export { cpuSig, vcpuTypeSig, CPU_SIGS } from './vcpu-types.js';
