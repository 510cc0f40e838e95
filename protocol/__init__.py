"""What appliance, cloud and PWA agree on: event envelope, HLC, money and permissions."""
