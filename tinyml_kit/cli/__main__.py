from tinyml_kit.cli import main

main()
