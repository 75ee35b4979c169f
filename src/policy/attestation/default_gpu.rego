# cocokit default attestation policy for NVIDIA GPU evidence (policy id `default_gpu`).
#
# Input: the claims of one GPU submodule as NVIDIA's attestation service (NRAS) reports them, under `nvidia`
# (specs/kbs-protocol.md §3.3). Reference values: `allowed_vbios_versions`, `allowed_driver_versions`.
# Output: the AR4SI trust vector (`trust_claims`, draft-ietf-rats-ar4si §2.3), with the claim values of
# Trustee's default GPU policy.

package policy

import rego.v1

default hardware := 97 # unrecognized hardware
default executables := 33 # unrecognized runtime
default configuration := 36 # unavailable config
default file_system := 0
default instance_identity := 0
default runtime_opaque := 0
default storage_opaque := 0
default sourced_data := 0

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

# A certificate chain NRAS validated and found unrevoked by OCSP.
chain_good(name) if {
	input.nvidia[name]["x-nvidia-cert-ocsp-status"] == "good"
	input.nvidia[name]["x-nvidia-cert-status"] == "valid"
}

# Every named NRAS result is true.
all_true(names) if every name in names { input.nvidia[name] }

# Genuine hardware (2): the attestation report's chain is valid, its FWID matches, it parsed, its signature
# verified and the architecture is the expected one.
hardware := 2 if {
	input.nvidia
	chain_good("x-nvidia-gpu-attestation-report-cert-chain")
	all_true([
		"x-nvidia-gpu-attestation-report-cert-chain-fwid-match",
		"x-nvidia-gpu-attestation-report-parsed",
		"x-nvidia-gpu-attestation-report-signature-verified",
		"x-nvidia-gpu-arch-check",
	])
}

# A device outside NRAS (the sample device) is recognised by its SVN when the embedder supplies
# `data.reference.device_svn`; the attestation service itself supplies no data, so there this never holds.
hardware := 2 if input.sampledevice.svn in data.reference.device_svn

# Secure boot on and debugging off: no known vulnerability (3); with VBIOS and driver versions that are
# reference values as well: an approved configuration (2).
configuration := 2 if {
	gpu_locked_down
	input.nvidia["x-nvidia-gpu-vbios-version"] in query_reference_value("allowed_vbios_versions")
	input.nvidia["x-nvidia-gpu-driver-version"] in query_reference_value("allowed_driver_versions")
} else := 3 if {
	gpu_locked_down
}

gpu_locked_down if {
	input.nvidia.secboot
	input.nvidia.dbgstat == "disabled"
}

# Approved boot (3): the VBIOS and driver reference integrity manifests (RIMs) were fetched, are signed, valid
# and of the right version, and the measurements NRAS compared against them matched.
executables := 3 if {
	chain_good("x-nvidia-gpu-vbios-rim-cert-chain")
	all_true([sprintf("x-nvidia-gpu-%s-rim-%s", [rim, check]) |
		some rim in ["driver", "vbios"]
		some check in ["fetched", "measurements-available", "schema-validated", "signature-verified", "version-match"]
	])
	input.nvidia.measres == "success"
}
