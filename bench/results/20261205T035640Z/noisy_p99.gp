set terminal svg size 800,450 dynamic font 'sans,11'
set output 'noisy_p99.svg'
set grid
set key outside right top
set title 'Noisy neighbour: p99 per second'
set xlabel 'second'
set ylabel 'p99 (us)'
set object 1 rect from 20.0,graph 0 to 40.0,graph 1 fc rgb '#eeeeee' behind
set label 'neighbour allocating' at 20.0,graph 0.95 offset 1,0
set logscale y
plot 'noisy_p99.dat' index 0 using 1:2 with linespoints lw 2 title 'buffered p99', 'noisy_p99.dat' index 1 using 1:2 with linespoints lw 2 title 'direct p99'
