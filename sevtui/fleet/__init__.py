"""Many hosts through the shipped Ansible playbook."""
