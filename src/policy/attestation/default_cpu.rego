# cocokit default attestation policy for CPU evidence (policy id `default_cpu`).
#
# Input: the claims one CPU verifier produced for one submodule (specs/kbs-protocol.md §3.3), keyed by the
# TEE's name (`sample`, `snp`, `tdx`, `az-snp-vtpm`, `az-tdx-vtpm`, `tpm`, `se`) plus `init_data_claims`.
# Reference values come from the host function `query_reference_value(id)`, which answers the stored JSON
# value or null when the id is unknown (`x in null` is false, so an unset reference value never matches).
#
# Output: `trust_claims`, the AR4SI trustworthiness vector of the EAR appraisal
# (draft-ietf-rats-ar4si §2.3), and `extensions`, the workload identifiers placed in the appraisal.
# The claim values and their meaning follow Trustee's default CPU policy, so a Trustee deployment's
# reference values give the same appraisal under cocokit.

package policy

import rego.v1

# Unless a platform section below recognises the evidence, the appraisal says so: these defaults are the
# AR4SI values for "not recognised" (contraindicated or warning) and "no assertion" (0).
default executables := 33 # unrecognized runtime: executables were loaded that are not recognised
default hardware := 97 # unrecognized hardware: the firmware/hardware should be, but is not, recognised
default configuration := 36 # unavailable config: the security-relevant configuration is not known
default file_system := 0
default instance_identity := 0
default runtime_opaque := 0
default storage_opaque := 0
default sourced_data := 0

# AR4SI values a recognised platform earns.
approved_boot := 3 # executables: only approved executables were loaded during boot
genuine := 2 # hardware: genuine, supported hardware and firmware
approved_config := 2 # configuration: a known and approved configuration
safe_config := 3 # configuration: no known vulnerabilities are exposed (key settings checked only)

trust_claims := {
	"executables": executables,
	"hardware": hardware,
	"configuration": configuration,
	"file-system": file_system,
	"instance-identity": instance_identity,
	"runtime-opaque": runtime_opaque,
	"storage-opaque": storage_opaque,
	"sourced-data": sourced_data,
}

# `value` is one of the values stored under reference value `id`.
listed(value, id) if value in query_reference_value(id)

# PCR 8 of a (v)TPM holds the init-data binding, SHA-256(32 zero bytes ‖ init_data_digest) (measured-boot.md
# §4.5). A deployment that lists PCR 8 values refuses any other PCR 8; one that lists none is appraised on
# the other claims alone, as under Trustee's policy, which has no PCR 8 rule. The argument is the object holding
# `pcr08` rather than the value, so that evidence without PCR 8 is judged by the rule too.
pcr8_listed(_, id) if query_reference_value(id) == null

pcr8_listed(pcrs, id) if listed(pcrs.pcr08, id)

# `value` equals the single value stored under reference value `id`.
equals_reference(value, id) if value == query_reference_value(id)

# Each platform section starts with its name as a guard: a claim set carries one TEE's claims, and the guard
# keeps a section from running (and querying reference values) for another TEE.

# --- sample: the development TEE, no hardware root of trust -------------------------------------------------

executables := approved_boot if {
	input.sample
	listed(input.sample.launch_digest, "launch_digest")
}

hardware := genuine if {
	input.sample
	listed(input.sample.svn, "svn")
	equals_reference(input.sample.platform_version.major, "major_version")
	input.sample.platform_version.minor >= query_reference_value("minimum_minor_version")
}

# The sample attester always reports debug = false; the check shows where a real platform's goes.
configuration := approved_config if {
	input.sample
	input.sample.debug == false
}

# --- AMD SEV-SNP ------------------------------------------------------------------------------------------

executables := approved_boot if {
	input.snp
	listed(input.snp.measurement, "snp_launch_measurement")
}

# The reported TCB names the firmware versions (bootloader, microcode, SNP firmware, PSP TEE) the chip runs.
hardware := genuine if {
	input.snp
	listed(input.snp.reported_tcb_bootloader, "snp_bootloader")
	listed(input.snp.reported_tcb_microcode, "snp_microcode")
	listed(input.snp.reported_tcb_snp, "snp_snp_svn")
	listed(input.snp.reported_tcb_tee, "snp_tee_svn")
}

# Every guest-policy and platform setting matches its reference value: approved. Otherwise, when at least
# debugging and migration agents are off, no known vulnerability is exposed.
configuration := approved_config if {
	snp_guest_locked_down
	equals_reference(input.snp.platform_smt_enabled, "snp_smt_enabled")
	equals_reference(input.snp.platform_tsme_enabled, "snp_tsme_enabled")
	equals_reference(input.snp.policy_abi_major, "snp_guest_abi_major")
	equals_reference(input.snp.policy_abi_minor, "snp_guest_abi_minor")
	equals_reference(input.snp.policy_single_socket, "snp_single_socket")
	equals_reference(input.snp.policy_smt_allowed, "snp_smt_allowed")
} else := safe_config if {
	snp_guest_locked_down
}

snp_guest_locked_down if {
	input.snp
	input.snp.policy_debug_allowed == false
	input.snp.policy_migrate_ma == false
}

# --- Intel TDX ------------------------------------------------------------------------------------------

# RTMR1 and RTMR2 cover the kernel, initrd and command line (with its dm-verity root hash). With the TDVF
# event log also naming the kernel and its load options, the boot is approved (3); GRUB boots (as on GKE)
# log neither event, and are given 4, still in the affirming tier.
executables := approved_boot if {
	tdx_rtmrs_listed
	tdx_event_digest_listed("tdvfkernel")
	tdx_event_digest_listed("tdvfkernelparams")
} else := 4 if {
	tdx_rtmrs_listed
}

tdx_rtmrs_listed if {
	input.tdx
	listed(input.tdx.quote.body.rtmr_1, "rtmr_1")
	listed(input.tdx.quote.body.rtmr_2, "rtmr_2")
}

# The TDVF event that loaded the kernel, and the one that carried its load options.
tdx_boot_event(event, "tdvfkernel") if {
	event.type_name == "EV_EFI_BOOT_SERVICES_APPLICATION"
	"File(kernel)" in event.details.device_paths
}

tdx_boot_event(event, "tdvfkernelparams") if {
	event.type_name == "EV_EVENT_TAG"
	event.details.string == "LOADED_IMAGE::LoadOptions"
}

tdx_event_digest_listed(id) if {
	some event in input.tdx.uefi_event_logs
	tdx_boot_event(event, id)
	some d in event.digests
	equals_reference(d.digest, id)
}

# A quote of type TDX (0x81) signed under Intel's SGX quoting enclave vendor id, a TD firmware (MRTD) that is
# a reference value, an up-to-date TCB and unexpired collateral. The TDX module hash (MRSEAM) is not checked.
hardware := genuine if {
	input.tdx
	tdx_intel_quote(input.tdx)
	listed(input.tdx.quote.body.mr_td, "mr_td")
	input.tdx.tcb_status == "UpToDate"
	input.tdx.collateral_expiration_status == "0"
}

tdx_intel_quote(claims) if {
	claims.quote.header.tee_type == "81000000"
	claims.quote.header.vendor_id == "939a7233f79c4ca9940a0db3957f0607"
}

configuration := approved_config if {
	input.tdx
	input.tdx.td_attributes.debug == false
	listed(input.tdx.quote.body.xfam, "xfam")
}

# --- Azure SEV-SNP confidential VM (vTPM) -------------------------------------------------------------------

executables := approved_boot if {
	input["az-snp-vtpm"]
	listed(input["az-snp-vtpm"].measurement, "measurement")
	listed(input["az-snp-vtpm"].tpm.pcr11, "snp_pcr11")
	pcr8_listed(input["az-snp-vtpm"].tpm, "snp_pcr08")
}

hardware := genuine if {
	input["az-snp-vtpm"]
	listed(input["az-snp-vtpm"].reported_tcb_bootloader, "tcb_bootloader")
	listed(input["az-snp-vtpm"].reported_tcb_microcode, "tcb_microcode")
	listed(input["az-snp-vtpm"].reported_tcb_snp, "tcb_snp")
	listed(input["az-snp-vtpm"].reported_tcb_tee, "tcb_tee")
}

configuration := approved_config if {
	input["az-snp-vtpm"]
	listed(input["az-snp-vtpm"].platform_smt_enabled, "smt_enabled")
	listed(input["az-snp-vtpm"].platform_tsme_enabled, "tsme_enabled")
	listed(input["az-snp-vtpm"].policy_abi_major, "abi_major")
	listed(input["az-snp-vtpm"].policy_abi_minor, "abi_minor")
	listed(input["az-snp-vtpm"].policy_single_socket, "single_socket")
	listed(input["az-snp-vtpm"].policy_smt_allowed, "smt_allowed")
}

# --- Azure TDX confidential VM (vTPM) -----------------------------------------------------------------------

executables := approved_boot if {
	input["az-tdx-vtpm"]
	listed(input["az-tdx-vtpm"].tpm.pcr11, "tdx_pcr11")
	pcr8_listed(input["az-tdx-vtpm"].tpm, "tdx_pcr08")
}

hardware := genuine if {
	input["az-tdx-vtpm"]
	tdx_intel_quote(input["az-tdx-vtpm"])
	listed(input["az-tdx-vtpm"].quote.body.mr_td, "mr_td")
	input["az-tdx-vtpm"].tcb_status == "UpToDate"
}

configuration := approved_config if {
	input["az-tdx-vtpm"]
	listed(input["az-tdx-vtpm"].quote.body.xfam, "xfam")
}

# --- TPM ----------------------------------------------------------------------------------------------------

# The verifier has checked the quote against the attestation key; PCR 11 (the UKI), the key itself and, when
# PCR 8 values are listed, PCR 8 (the init-data) must be reference values for the executables claim. The
# configuration makes no assertion.
hardware := genuine if input.tpm

executables := approved_boot if {
	input.tpm
	listed(input.tpm.pcr11, "tpm_pcr11")
	listed(input.tpm.ak_public, "trusted_aks")
	pcr8_listed(input.tpm, "tpm_pcr08")
}

configuration := 0 if input.tpm

# --- IBM Secure Execution ------------------------------------------------------------------------------------

# The SE verifier checks measurements, signatures and the user-data binding itself; its claims exist only
# when all of that succeeded, so their presence is the whole appraisal.
executables := approved_boot if input.se

hardware := genuine if input.se

configuration := approved_config if input.se

# --- Extensions -------------------------------------------------------------------------------------------------

# The workload identifiers bound to this evidence by init-data: the images and user ids of the containers
# the Kata agent policy allows (init_data_claims.agent_policy_claims). An empty list is left out.
extensions := [{
	"name": "ear.trustee.identifiers",
	"key": -18,
	"value": {"validated": validated_identifiers},
}]

validated_identifiers := {name: values |
	some name, values in {"container_images": container_images, "container_uids": container_uids}
	count(values) > 0
}

policy_containers := input.init_data_claims.agent_policy_claims.containers

container_images := [image | image := policy_containers[_].OCI.Annotations["io.kubernetes.cri.image-name"]]

container_uids := [uid | uid := policy_containers[_].OCI.Process.User.UID]
