"""Small shared pieces every room uses: errors, output, interrupts, atomic files, locks, the plugin's paths."""
