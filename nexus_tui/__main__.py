from nexus_tui.entry import main  # the console script's dispatch: `python -m nexus_tui statusline` works too

main()
