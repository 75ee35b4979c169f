# Mounts and storages of a container (§3.6): every mount the runtime asks for is one the policy lists, with
# sources under the per-container shared directory; the storages are the image layers (dm-verity protected
# tar layers and their overlay) and the pod's volumes.
package agent_policy

mount_problems(p_mounts) := {sprintf("OCI.Mounts: no policy mount allows %v", [m]) |
	some m in object.get(input.OCI, "Mounts", [])
	not mount_allowed(p_mounts, m)
}

mount_allowed(p_mounts, m) if m in p_mounts

mount_allowed(p_mounts, m) if {
	some p in p_mounts
	p.destination == m.destination
	p.type_ == m.type_
	p.options == m.options
	p.source != ""
	mount_source_ok(p.source, m.source)
}

# A policy mount without a source is a block-device emptyDir: its source is where the request's block storage
# (a virtio-blk or SCSI device the runtime attached for it) is mounted.
mount_allowed(p_mounts, m) if {
	some p in p_mounts
	p.source == ""
	p.destination == m.destination
	p.type_ == m.type_
	p.options == m.options
	some s in input.storages
	s.driver in {"blk", "scsi"}
	s.mount_point == m.source
}

mount_source_ok(p, i) if regex.match(expand_source(p, "$(bundle-id)", i_bundle_id), i)

mount_source_ok(p, i) if regex.match(expand_source(p, "$(sandbox-id)", i_sandbox_id), i)

# Direct-assigned volumes are mounted from a directory named by the base64 of the volume path.
mount_source_ok(p, i) if {
	parts := split(i, "/")
	b64 := parts[count(parts) - 1]
	base64.is_valid(b64)
	replace(replace(p, "$(spath)", policy_data.common.spath), "$(b64-direct-vol-path)", b64) == i
}

expand_source(p, placeholder, value) := r if {
	r1 := replace(p, "$(sfprefix)", policy_data.common.sfprefix)
	r2 := replace(r1, "$(cpath)", policy_data.common.cpath)
	r := replace(r2, placeholder, value)
}

# With guest pull the guest fetches and verifies the image itself: the request then also carries one
# image_guest_pull storage, the container's root overlay, which the policy does not list.
storage_problems(ps, is) := {sprintf("storages: policy has %d, request %d (besides image_guest_pull)", [count(ps), count(listed)])} if {
	listed := [s | some s in is; s.driver != "image_guest_pull"]
	count(ps) != count(listed)
} else := {sprintf("storages: no policy storage allows %v", [s]) |
	some s in is
	not storage_allowed(ps, s)
}

storage_allowed(_, s) if {
	s.driver == "image_guest_pull"
	s.fstype == "overlay"
	is_null(s.fs_group)
	object.get(s, "shared", false) == false
	count(s.options) == 0
	s.mount_point == replace(policy_data.common.root_path, "$(bundle-id)", i_bundle_id)
}

# The image layers, from the policy's overlay storage: its two options are the layer ids and the dm-verity
# root hashes, each joined by ":" and in the same order.
layer_ids(ps) := split(o.options[0], ":") if {
	some o in ps
	o.driver == "overlayfs"
	count(o.options) == 2
} else := []

root_hashes(ps) := split(o.options[1], ":") if {
	some o in ps
	o.driver == "overlayfs"
	count(o.options) == 2
} else := []

storage_allowed(ps, s) if {
	some p in ps
	p.driver == s.driver
	p.driver_options == s.driver_options
	p.fs_group == s.fs_group
	object.get(p, "shared", false) == object.get(s, "shared", false)
	storage_options_ok(ps, p, s)
	mount_point_ok(ps, p, s)
}

# A block-device emptyDir (encrypted or plain): the runtime picks the device, so the policy leaves driver and
# source empty; the request names a virtio-blk PCI path or a SCSI address and mounts it under the storage
# directory at the base64url of that name, with the policy's filesystem, options and driver options.
storage_allowed(ps, s) if {
	some p in ps
	p.driver == ""
	p.source == ""
	contains(p.mount_point, "$(b64_device_id)")
	device_source_ok(s)
	p.driver_options == s.driver_options
	p.fs_group == s.fs_group
	p.fstype == s.fstype
	p.options == s.options
	object.get(p, "shared", false) == object.get(s, "shared", false)
	s.mount_point == replace(replace(p.mount_point, "$(spath)", policy_data.common.spath), "$(b64_device_id)", base64url.encode(s.source))
}

device_source_ok(s) if {
	s.driver == "blk"
	regex.match(`^[0-9a-f]{2}(/[0-9a-f]{2})?$`, s.source)
}

device_source_ok(s) if {
	s.driver == "scsi"
	regex.match(`^[0-9]+:[0-9]+$`, s.source)
}

storage_options_ok(_, p, s) if {
	not p.driver in {"overlayfs", "blk", "smb"}
	p.options == s.options
}

storage_options_ok(_, p, s) if {
	p.driver == "blk"
	not startswith(object.get(p.options, 0, ""), "$(hash")
	p.options == s.options
}

# A layer: a read-only tar block device whose dm-verity root hash is the policy's hash for that layer.
storage_options_ok(ps, p, s) if {
	p.driver == "blk"
	count(p.options) == 1
	n := placeholder_index(p.options[0], "$(hash")
	s.options == [
		"ro",
		"io.katacontainers.fs-opt.block_device=file",
		"io.katacontainers.fs-opt.is-layer",
		concat("=", ["io.katacontainers.fs-opt.root-hash", root_hashes(ps)[n]]),
	]
}

# The overlay of the layers: the source prefix, one option per layer naming its id and root hash, read-write
# upper layer, and the lower directories in the policy's order.
storage_options_ok(ps, p, s) if {
	p.driver == "overlayfs"
	ids := layer_ids(ps)
	hashes := root_hashes(ps)
	count(ids) >= 1
	count(ids) == count(hashes)
	n := count(s.options)
	n == count(ids) + 3
	s.options[0] == "io.katacontainers.fs-opt.layer-src-prefix=/var/lib/containerd/io.containerd.snapshotter.v1.tardev/layers"
	s.options[n - 2] == "io.katacontainers.fs-opt.overlay-rw"
	s.options[n - 1] == concat("=", ["lowerdir", p.options[0]])
	every k, id in ids {
		startswith(s.options[k + 1], "io.katacontainers.fs-opt.layer=")
		layer := base64.decode(substring(s.options[k + 1], count("io.katacontainers.fs-opt.layer="), -1))
		layer == sprintf("%s,tar,ro,io.katacontainers.fs-opt.block_device=file,io.katacontainers.fs-opt.is-layer,io.katacontainers.fs-opt.root-hash=%s", [id, hashes[k]])
	}
}

# SMB volumes: fixed mount options, a server address and credentials.
storage_options_ok(_, p, s) if {
	p.driver == "smb"
	count(s.options) == 8
	array.slice(s.options, 0, 6) == ["dir_mode=0666", "file_mode=0666", "mfsymlinks", "cache=strict", "nosharesock", "actimeo=30"]
	startswith(s.options[6], "addr=")
	creds := split(s.options[7], ",")
	count(creds) == 2
	startswith(creds[0], "username=")
	startswith(creds[1], "password=")
}

placeholder_index(v, prefix) := to_number(trim_suffix(trim_prefix(v, prefix), ")")) if {
	startswith(v, prefix)
	endswith(v, ")")
}

mount_point_ok(ps, p, s) if {
	p.fstype == "tar"
	n := placeholder_index(p.mount_point, "$(layer")
	s.mount_point == concat("/", ["/run/kata-containers/sandbox/layers", layer_ids(ps)[n]])
}

mount_point_ok(_, p, s) if {
	p.fstype == "fuse3.kata-overlay"
	s.mount_point == replace(replace(p.mount_point, "$(cpath)", policy_data.common.cpath), "$(bundle-id)", i_bundle_id)
}

mount_point_ok(_, p, s) if {
	p.fstype == "local"
	regex.match(replace(replace(p.mount_point, "$(cpath)", policy_data.common.cpath), "$(sandbox-id)", i_sandbox_id), s.mount_point)
}

mount_point_ok(_, p, s) if {
	p.fstype == "bind"
	regex.match(replace(replace(p.mount_point, "$(cpath)", policy_data.common.cpath), "$(bundle-id)", i_bundle_id), s.mount_point)
}

mount_point_ok(_, p, s) if {
	p.fstype == "tmpfs"
	regex.match(p.mount_point, s.mount_point)
}

# Direct-assigned block and SMB volumes are mounted under a directory named by the base64url of their source.
mount_point_ok(_, p, s) if {
	p.driver in {"blk", "smb"}
	not p.fstype in {"tar", "fuse3.kata-overlay", "local", "bind", "tmpfs"}
	s.mount_point == replace(replace(p.mount_point, "$(spath)", policy_data.common.spath), "$(b64-direct-vol-path)", base64url.encode(s.source))
}
