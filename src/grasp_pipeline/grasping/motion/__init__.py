"""Motion backends: turn pick waypoints into joint trajectories and execute them."""
