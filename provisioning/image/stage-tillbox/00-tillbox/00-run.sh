#!/bin/bash -e
# pi-gen runs this on the build host with ROOTFS_DIR set to the image's root file system.
# It runs the same roles as field provisioning (provisioning/site.yml's appliance play),
# through the community.general.chroot connection, with nothing started (offline): the
# image is generic, and each Pi becomes its store on first boot from store-setup.toml.
# TILLBOX_REPO: the Tillbox checkout (with .venv, .ansible/collections and the arm64
# bundle in dist/); TILLBOX_IMAGE_VARS: a YAML file with the image's secrets
# (tillbox_setup_ap_psk, tillbox_tls_fullchain, tillbox_tls_privkey), kept out of git;
# TILLBOX_VAULT_PASSWORD_FILE (optional): its password, when it is an ansible-vault file.
: "${TILLBOX_REPO:?set TILLBOX_REPO to the Tillbox checkout}"
: "${TILLBOX_IMAGE_VARS:?set TILLBOX_IMAGE_VARS to the image secrets file}"

inventory="$(mktemp)"
trap 'rm -f "$inventory"' EXIT
cat >"$inventory" <<INVENTORY
appliances:
  hosts:
    ${ROOTFS_DIR}:
      ansible_connection: community.general.chroot
      ansible_python_interpreter: /usr/bin/python3
  vars:
    tillbox_version: "$("${TILLBOX_REPO}/.venv/bin/python" -c 'import appliance; print(appliance.__version__)')"
    tillbox_store_id: ""
    base_offline: true
    network_offline: true
    devices_offline: true
    appliance_offline: true
cloud:
  hosts: {}
INVENTORY
vault=()
if [[ -n "${TILLBOX_VAULT_PASSWORD_FILE:-}" ]]; then
    vault=(--vault-password-file "${TILLBOX_VAULT_PASSWORD_FILE}")
fi
cd "${TILLBOX_REPO}/provisioning"
ANSIBLE_COLLECTIONS_PATH="${TILLBOX_REPO}/.ansible/collections" \
    "${TILLBOX_REPO}/.venv/bin/ansible-playbook" -i "$inventory" "${vault[@]}" \
    -e "@${TILLBOX_IMAGE_VARS}" site.yml
